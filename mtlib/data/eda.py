"""The reference's training-data preparation, `--use_preprocessing lengths | lengths_augmented`.

- `lengths`: each task's training rows without its longest 2 percent (the reference's report,
  section 4.1: the longest sentences of SST, the longest sums of a pair's two sentences for
  para and STS; counted here in whitespace-separated words).
- `lengths_augmented`: then, for SST and para, Easy Data Augmentation copies (Wei & Zou, 2019)
  of the rows the reference's `data_augmentation.py` chose: for every class but the most
  frequent, (count of the most frequent − count of the class) // 2 rows of that class, drawn at
  random; each chosen row gets one copy, made by one of the four EDA operations drawn at random
  (as EDA's tool does for one copy per row), changing max(1, ⌊0.1 · words⌋) words:
  synonym replacement (WordNet), random insertion (of a synonym of a word of the sentence),
  random swap and random deletion (each word with probability 0.1). A pair's two sentences get
  the same operation. A copy identical to its row is left out (the reference dropped
  duplicate sentences). STS is only length-filtered, as in the reference.

Only training rows are touched; dev and test rows never are. Everything is drawn from the run's
seed, and what was done (rows left out and added, the seed, each operation's count) is recorded
in the run's manifest (`preparation`) and notes.

WordNet is Debian's `wordnet-base` (`/usr/share/wordnet`, or the folder in $MTLIB_WORDNET_DIR),
read through nltk; `make install` and CI install it.
"""

from __future__ import annotations

import io
import os
import warnings
from collections import Counter
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..config.tasks import TaskSpec
from ..util.errors import ConfigError
from .task_files import Examples

OPERATIONS = ("synonym_replacement", "random_insertion", "random_swap", "random_deletion")
ALPHA = 0.1  # the share of a sentence's words each operation changes (EDA's default)
LONGEST_SHARE = 0.02  # `lengths`: the share of the longest training rows left out
WORDNET_DIRS = ("/usr/share/wordnet",)  # where Debian's wordnet-base puts the dictionary
INSTALL = "apt-get install wordnet-base (as root; `make install` does it)"
REINSTALL = "reinstall it: apt-get install --reinstall wordnet-base (as root), or point $MTLIB_WORDNET_DIR at a whole copy"
PROBES = {"noun": "dog", "verb": "run", "adj": "good", "adv": "quickly"}  # a word of each part of speech WordNet must know

# Words that synonym replacement and insertion leave alone: English function words.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself no nor not of off on once
    only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself yourselves""".split()
)

# nltk's reader wants the `lexnames` file (WordNet's 45 lexicographer files, in order), which
# Debian's package leaves out; the names are fixed by WordNet 3.0.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body noun.cognition "
    "noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive noun.object noun.person "
    "noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication verb.competition "
    "verb.consumption verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession "
    "verb.social verb.stative verb.weather adj.ppl"
).split()

Synonyms = Callable[[str], list[str]]


def wordnet_dir() -> Path:
    """The folder of WordNet's dictionary files, or a ConfigError naming the install command."""
    candidates = [os.environ["MTLIB_WORDNET_DIR"]] if os.environ.get("MTLIB_WORDNET_DIR") else list(WORDNET_DIRS)
    for folder in map(Path, candidates):
        if (folder / "index.noun").is_file() and (folder / "data.noun").is_file():
            return folder
    raise ConfigError(
        f"--use_preprocessing lengths_augmented needs WordNet for synonyms, and there is none in {', '.join(candidates)}: {INSTALL}"
    )


@lru_cache(maxsize=2)
def _reader(folder: str) -> Any:
    try:
        import nltk
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ImportError:
        raise ConfigError(
            "--use_preprocessing lengths_augmented reads WordNet through nltk, which is not installed: pip install nltk"
        ) from None

    class DebianWordNet(WordNetCorpusReader):
        def open(self, fileid: str) -> Any:
            if fileid == "lexnames":
                return io.StringIO("".join(f"{i:02d}\t{name}\t0\n" for i, name in enumerate(LEXNAMES)))
            return super().open(fileid)

        def map_wn(self, version: str = "wordnet") -> None:  # no multilingual data to map to
            return None

    if folder not in nltk.data.path:
        nltk.data.path.append(folder)  # nltk reads corpora only under its data paths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return DebianWordNet(folder, None)


def wordnet_synonyms() -> Synonyms:
    """word -> its WordNet synonyms (lower case, letters and spaces only, the word left out). A
    damaged copy (an empty or garbled file) is a ConfigError naming the file or the folder."""
    folder = wordnet_dir()
    for pos in PROBES:
        for kind in ("index", "data"):
            path = folder / f"{kind}.{pos}"
            if not path.is_file() or path.stat().st_size == 0:
                raise ConfigError(f"{path} is missing or empty: the WordNet copy in {folder} is damaged; {REINSTALL}")
    try:
        reader = _reader(str(folder))
    except Exception as exc:  # nltk's reader fails on a garbled index in its own ways
        raise ConfigError(f"WordNet in {folder} cannot be read ({type(exc).__name__}: {exc}); {REINSTALL}") from None

    @cache
    def synonyms(word: str) -> list[str]:
        word = word.lower()
        try:
            found = {
                lemma.name().replace("_", " ").replace("-", " ").lower() for synset in reader.synsets(word) for lemma in synset.lemmas()
            }
        except Exception as exc:  # a garbled data file: offsets that point at nothing
            raise ConfigError(
                f"WordNet in {folder} is damaged: looking up {word!r} failed ({type(exc).__name__}: {exc}); {REINSTALL}"
            ) from None
        return sorted(s for s in found if s != word and all(c.isalpha() or c == " " for c in s))

    for pos, word in PROBES.items():  # a copy that knows none of these is no WordNet
        if not synonyms(word):
            raise ConfigError(
                f"{folder / ('index.' + pos)} does not know the word {word!r}: the WordNet copy in {folder} is damaged; {REINSTALL}"
            )
    return synonyms


# ---- the four operations: words in, words out ----------------------------------------------------
def synonym_replacement(words: list[str], n: int, rng: np.random.Generator, synonyms: Synonyms) -> list[str]:
    """Replace every occurrence of up to n different non-stop words by one of their synonyms."""
    out = list(words)
    candidates = sorted({w for w in words if w.lower() not in STOP_WORDS})
    replaced = 0
    for i in rng.permutation(len(candidates)):
        options = synonyms(candidates[i])
        if options:
            new = options[int(rng.integers(len(options)))]
            out = [new if w == candidates[i] else w for w in out]
            replaced += 1
        if replaced >= n:
            break
    return out


def random_insertion(words: list[str], n: int, rng: np.random.Generator, synonyms: Synonyms) -> list[str]:
    """Insert, n times, a synonym of a random non-stop word of the sentence at a random position."""
    out = list(words)
    for _ in range(n):
        candidates = [w for w in out if w.lower() not in STOP_WORDS]
        for _attempt in range(10):
            if not candidates:
                break
            options = synonyms(candidates[int(rng.integers(len(candidates)))])
            if options:
                out.insert(int(rng.integers(len(out) + 1)), options[int(rng.integers(len(options)))])
                break
    return out


def random_swap(words: list[str], n: int, rng: np.random.Generator, synonyms: Synonyms | None = None) -> list[str]:
    """Swap two random positions, n times."""
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n):
        i, j = rng.choice(len(out), 2, replace=False)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: list[str], p: float, rng: np.random.Generator, synonyms: Synonyms | None = None) -> list[str]:
    """Drop each word with probability p; one random word stays if all would go."""
    if len(words) <= 1:
        return list(words)
    keep = rng.random(len(words)) >= p
    out = [w for w, k in zip(words, keep) if k]
    return out or [words[int(rng.integers(len(words)))]]


def augment_text(texts: tuple[str, ...], operation: str, rng: np.random.Generator, synonyms: Synonyms) -> tuple[str, ...]:
    """One EDA copy of a row's text(s), every text by the same operation."""
    out = []
    for text in texts:
        words = text.split()
        n = max(1, int(ALPHA * len(words)))
        if operation == "random_deletion":
            words = random_deletion(words, ALPHA, rng)
        else:
            words = {"synonym_replacement": synonym_replacement, "random_insertion": random_insertion, "random_swap": random_swap}[
                operation
            ](words, n, rng, synonyms)
        out.append(" ".join(words))
    return tuple(out)


# ---- which rows, and the split as prepared ------------------------------------------------------
def rows_to_augment(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The rows data_augmentation.py chose: for each class but the most frequent, (most − count) // 2
    of its rows, drawn at random."""
    labels = np.asarray(labels).astype(int)
    counts = Counter(labels.tolist())
    most = max(counts.values())
    top = min(c for c, k in counts.items() if k == most)
    order = rng.permutation(len(labels))  # the reference shuffled once, then took the first rows of each class
    chosen = [order[labels[order] == c][: (most - counts[c]) // 2] for c in sorted(counts) if c != top]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)


def _words(texts: tuple[str, ...]) -> int:
    return sum(len(t.split()) for t in texts)


def prepare_train(
    examples: Examples, spec: TaskSpec, mode: str, seed: int, synonyms: Synonyms | None = None
) -> tuple[Examples, dict[str, Any]]:
    """A training split as `--use_preprocessing mode` prepares it, and the record of what was done."""
    record: dict[str, Any] = {"mode": mode, "seed": seed, "rows_before": len(examples)}
    if mode == "none" or examples.split != "train":
        return examples, {}
    lengths = np.array([_words(t) for t in examples.texts])
    k = int(LONGEST_SHARE * len(examples))
    longest = set(np.argsort(-lengths, kind="stable")[:k].tolist())
    examples = examples.subset([i for i in range(len(examples)) if i not in longest])
    record["rows_removed"] = k
    record["rows_added"] = 0
    if mode != "lengths_augmented" or not spec.is_classification or examples.labels is None:
        record["rows_after"] = len(examples)
        return examples, record
    synonyms = synonyms or wordnet_synonyms()
    rng = np.random.default_rng([seed, 4243, sum(map(ord, spec.name))])
    ids, texts, labels, done = list(examples.ids), list(examples.texts), list(examples.labels), Counter()
    for i in rows_to_augment(examples.labels, rng):
        operation = OPERATIONS[int(rng.integers(len(OPERATIONS)))]
        copy = augment_text(examples.texts[i], operation, rng, synonyms)
        if copy == examples.texts[i]:
            continue
        ids.append(f"{examples.ids[i]}-eda")
        texts.append(copy)
        labels.append(examples.labels[i])
        done[operation] += 1
    added = len(ids) - len(examples)
    record.update(rows_added=added, rows_after=len(ids), operations=dict(sorted(done.items())), alpha=ALPHA)
    prepared = Examples(
        task=examples.task,
        split=examples.split,
        source=examples.source,
        ids=ids,
        texts=texts,
        labels=np.asarray(labels, dtype=examples.labels.dtype),
        dropped=examples.dropped,
    )
    return prepared, record


def note(task: str, record: dict[str, Any]) -> str:
    """The run's note of one task's preparation."""
    text = f"{task} train prepared ({record['mode']}, seed {record['seed']}): {record['rows_removed']} longest rows left out"
    if record.get("operations") is not None:
        ops = ", ".join(f"{k} {v}" for k, v in record["operations"].items())
        text += f", {record['rows_added']} EDA copies added ({ops or 'none'})"
    return text + f"; {record['rows_after']} rows"
