"""TensorBoard that compares well: one step axis across a run's stages, HParams with each
stage's settings and dev scores, row-normalised confusion images, and no empty event file."""

from __future__ import annotations

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mtlib.workbook.training.stages import STAGE_NAMES


def _events(folder):
    events = EventAccumulator(str(folder / "tb"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def test_stages_share_one_step_axis_and_record_hparams(smoke_run):
    run = smoke_run("pal-cross")
    previous_last = 0
    for stage in STAGE_NAMES:
        folder = run / "stages" / stage
        events = _events(folder)
        steps = [e.step for e in events.Scalars("Learning rate")]
        assert steps[0] == previous_last + 1, f"{stage} starts at {steps[0]}, not after the previous stage's {previous_last}"
        assert steps == list(range(steps[0], steps[-1] + 1))
        recorded = json.loads((folder / "results.json").read_text())
        assert recorded["tb_last_step"] == steps[-1]
        previous_last = steps[-1]
        scalars = events.Tags()["scalars"]
        assert {"hparam/dev_sst", "hparam/dev_para", "hparam/dev_sts", "hparam/dev_mean"} <= set(scalars)
        assert abs(events.Scalars("hparam/dev_mean")[-1].value - recorded["dev_mean"]) < 1e-6  # stored as float32
        image = events.Images("Confusion Matrix [SST]")[-1]
        assert image.width > 2 * image.height  # counts beside the row-normalised matrix


def test_the_test_stage_writes_no_empty_event_file(smoke_run):
    assert not (smoke_run("pal-cross") / "stages" / "test" / "tb").exists()
