"""Names changed by the one-house refactor still read: old flags, old profile keys, old stage
folders and old results.json keys."""

import json

from mtlib.config.command_line import parse_args
from mtlib.config.config import Config
from mtlib.store.results_file import RunResult, with_current_names
from mtlib.workbook.training.stages import stage_folder, stage_name


def test_the_reference_flags_set_the_renamed_settings():
    cfg = parse_args(["--hidden_dropout_prob", "0.3", "--max_batch_size_sst", "8", "--batch_size_sts", "4"]).validate()
    assert cfg.model.head_dropout == 0.3 and cfg.train.max_micro_batch == {"sst": 8, "sts": 4}
    assert Config.from_dict({"max_batch_size_para": 16, "max_batch_size_sst": 0}).train.max_micro_batch == {"para": 16}
    assert Config.from_dict({"max_micro_batch": "sst=8,para=0"}).train.max_micro_batch == {"sst": 8}
    assert Config.from_dict({"max_micro_batch": {"sts": 2}}).max_micro_batch_of("sts") == 2


def test_the_old_stage_name_reads_in_profiles_and_run_folders(tmp_path):
    assert stage_name("finetune_pal") == "finetune"
    assert Config.from_profile("smoke", "finetune_pal").to_flat() == Config.from_profile("smoke", "finetune").to_flat()
    (tmp_path / "stages" / "finetune_pal").mkdir(parents=True)
    assert stage_folder(tmp_path, "finetune") == tmp_path / "stages" / "finetune_pal"
    assert stage_folder(tmp_path / "new", "finetune") == tmp_path / "new" / "stages" / "finetune"


def test_old_results_json_files_read(tmp_path):
    (tmp_path / "results.json").write_text(
        json.dumps({"final_stage": "finetune_pal", "stages": {"finetune_pal": {"dev_mean": 0.5}}, "dev": {"sst": 0.5}})
    )
    results = with_current_names(json.loads((tmp_path / "results.json").read_text()))
    assert results["reported_stage"] == "finetune" and list(results["stages"]) == ["finetune"]
    (tmp_path / "results.json").write_text(json.dumps({"option": "finetune", "run": "r", "dev": {"sst": 0.5}, "an_old_key": 1}))
    assert RunResult.read(tmp_path).dev == {"sst": 0.5}
