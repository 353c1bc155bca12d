"""Writes a tiny JDE/FairMOT ``labels_with_ids`` dataset in its real on-disk format."""

import os

import cv2
import numpy as np

from mot_heads.data.jde import label_file

#: width and height of every fixture image, in pixels
IMAGE_SIZE = (64, 48)


def write_jde_dataset(root, key, ext, images):
    """Write images, label files and the list ``<root>/JDE/<key>.<ext>``; return the list path.

    ``images`` maps a path relative to ``JDE/`` to a list of ``(class, id, cx, cy, w, h)``
    tuples, the box normalised to the image size as in the real label files; an image with
    no tuples gets an empty label file. Images are :data:`IMAGE_SIZE` noise.
    """
    jde_root = os.path.join(str(root), "JDE")
    rng = np.random.default_rng(len(images))
    width, height = IMAGE_SIZE
    for relative, labels in images.items():
        image_file = os.path.join(jde_root, relative)
        os.makedirs(os.path.dirname(image_file), exist_ok=True)
        cv2.imwrite(image_file, rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
        labels_path = os.path.join(jde_root, label_file(relative))
        os.makedirs(os.path.dirname(labels_path), exist_ok=True)
        with open(labels_path, "w") as f:
            for cls, identity, cx, cy, w, h in labels:
                f.write(f"{int(cls)} {int(identity)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    list_file = os.path.join(jde_root, f"{key}.{ext}")
    with open(list_file, "w") as f:
        f.write("".join(f"{relative}\n" for relative in images))
    return list_file
