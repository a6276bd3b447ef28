"""The names of the files in a run folder that more than one module reads or writes (no torch here)."""

RUN_FILE = "run.json"  # the data root and domains, so --resume and style-sample can find the data
IMAGE_CHECK_FILE = "image_check.json"  # which training images decode, by path, size and mtime
BAD_IMAGES_FILE = "bad_images.txt"  # the training images that do not, one path a line
TRAINING_LOCK = ".train.lock"  # held by the `munit train` writing the folder (files.folder_lock)
LATEST_CHECKPOINT = "latest.safetensors"  # in checkpoints/, beside the numbered ones: the newest weights
