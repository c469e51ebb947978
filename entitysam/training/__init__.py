"""Training: class-agnostic COCO-panoptic data, pseudo-video clips, matching, losses, trainer.

Modules (import them directly; nothing is imported here so that light tools such as the
synthetic-data generator start fast):

- ``coco_panoptic``: ``CocoPanoptic`` reader, entities = non-crowd segments (spec training.md §4)
- ``synthetic``: deterministic synthetic COCO-panoptic sets (tests, smoke runs)
- ``augment``: clip-aware flip / rotation / scale / crop (§6)
- ``clips``: ``PseudoVideoClips``, ``ClipStream``, targets (§5, §7)
- ``matcher``: ``HungarianMatcher``, ``point_sample`` (§9)
- ``losses``: ``SetCriterion`` and the four losses (§10)
- ``propagate``, ``trainer``: the training forward pass and loop (§8, §11)
"""
