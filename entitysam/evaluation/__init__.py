"""Evaluation: the paper's metrics, numerically identical to the official scripts.

One module per metric family (``veq``, ``vpq``, ``stq``, ``vspw``, ``ytvis``), dataset
readers in ``readers``; task entry points re-exported here.
"""

from entitysam.evaluation.entity import evaluate_entity

__all__ = ["evaluate_entity"]
