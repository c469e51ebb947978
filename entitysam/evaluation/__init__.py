"""Evaluation: the paper's metrics, numerically identical to the official scripts.

One module per metric family (``veq``, ``vpq``, ``stq``, ``vspw``, ``ytvis``), dataset
readers in ``readers``; the task entry points are re-exported here::

    from entitysam.evaluation import evaluate_entity
    report = evaluate_entity(pred_dir, gt_png_dir, gt_json, workers=4)
    print(report["veq"]["VEQ"], report["stq"]["STQ"])
"""

from entitysam.evaluation.entity import evaluate_entity
from entitysam.evaluation.vpq import evaluate_panoptic
from entitysam.evaluation.vspw import evaluate_semantic
from entitysam.evaluation.ytvis import evaluate_instance

__all__ = ["evaluate_entity", "evaluate_panoptic", "evaluate_semantic", "evaluate_instance"]
