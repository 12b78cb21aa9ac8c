"""The transfer set: what the teacher labels and the student learns from, when it is bigger than SST-2's train split.

augment.py and compose.py write unlabelled sentences, label.py has the teacher
label them into the resumable TFRecord shards of shards.py (ray_shards.py: on a Ray cluster,
strategy.py: under tf.distribute), stream.py reads the shards back as tf.data.
It sits between `teacher/` (which it calls) and `training/` (which streams it).
"""
