"""leadsync scoring: a model file + a contact + its activities + ``now`` -> a score with its reasons.

Pure: no HTTP, no settings, no database, no clock of its own.  The model file format is documented in
``docs/model.md``.

    model = load_model("scoring.yaml")
    result = score(model, contact, activities, now=datetime.now(UTC))
    explain(result)  # "+25 demo request 2d ago; +15 100+ employees; -10 unsubscribed"
"""

# first: picks the compiled (mypyc) modules, or their plain sources when edited since the build
from ._native import compiled  # isort: skip
from .engine import score, score_many
from .examples import ExampleOutcome, run_examples
from .explain import explain
from .loader import STARTER_MODEL_PATH, dump_model, load_model, parse_model
from .model import Model, model_json_schema
from .result import Evidence, Reason, ScoreResult
from .segments import SegmentAnswer, explain_segments
from .yamlfile import LineMap, ModelError, Problem, format_validation_errors, load_yaml_with_lines

__all__ = [
    "STARTER_MODEL_PATH",
    "Evidence",
    "ExampleOutcome",
    "LineMap",
    "Model",
    "ModelError",
    "Problem",
    "Reason",
    "ScoreResult",
    "SegmentAnswer",
    "compiled",
    "dump_model",
    "explain",
    "explain_segments",
    "format_validation_errors",
    "load_model",
    "load_yaml_with_lines",
    "model_json_schema",
    "parse_model",
    "run_examples",
    "score",
    "score_many",
]
