"""Synthetic MOT video set: deterministic, rendered, written in the MOTChallenge layout.

Objects of several classes with distinct appearances move at varied speeds over a
textured background, enter and leave the view, cross and occlude each other (drawn
back to front by depth), optionally under a moving camera. The ground truth carries
every object whose box touches the frame, with its true visibility: the fraction of
its shape's pixels that are drawn in the frame (occlusion and image border both count,
as in MOT16/17). Boxes are the part of the object inside the frame (as KITTI and
BDD100K annotate, and as Detectron2 clips training boxes), so a detector is not scored
against extents it cannot see; MOT16/17 keep the full extent instead. ``det/det.txt`` holds noisy public detections made from the gt.

Command line: ``mot demo-data --root datasets/synthetic`` (or ``python -m mot_heads.data.synthetic``).
"""
import json
import logging
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from .detection_noise import DetectionNoise, simulate_detections
from .mot_challenge import register_mot_folder

logger = logging.getLogger(__name__)

# Category names; the MOT class id written in gt.txt is the index + 1.
SYNTHETIC_CLASSES = ("person", "car")
_PERSON, _CAR = 0, 1


@dataclass(frozen=True)
class SyntheticConfig:
    """Generation parameters; the whole set is a pure function of these."""

    seed: int = 0
    train_sequences: int = 16
    val_sequences: int = 4
    num_frames: int = 60
    width: int = 320
    height: int = 192
    frame_rate: int = 10
    # Objects at the first frame and the mean number alive that spawning keeps up.
    initial_objects: int = 6
    target_objects: int = 7
    camera_motion: bool = True
    # Max camera speed in px/frame (a smooth random walk) and margin of the background.
    camera_speed: float = 2.0
    camera_margin: int = 48
    person_heights: Tuple[int, int] = (28, 64)
    car_widths: Tuple[int, int] = (40, 80)
    # Per-object speed range in px/frame: slow walkers to fast cars.
    speeds: Tuple[float, float] = (0.5, 4.0)
    person_probability: float = 0.6
    pixel_noise: float = 3.0
    image_ext: str = ".jpg"
    # gt boxes: the part of each object inside the frame (True), or its full extent,
    # also outside the frame, as MOT16/17 (False).
    clip_boxes: bool = True
    # Public detections (detection_noise.py): an object is detected with probability
    # min(1, 0.3 + visibility), its box jittered by det_jitter of its size; Poisson
    # false positives per frame.
    det_jitter: float = 0.05
    det_false_positives: float = 0.3

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class SyntheticObject:
    """One moving object; position is the box centre in world (background) pixels."""

    track_id: int
    category: int
    center: np.ndarray
    velocity: np.ndarray
    size: np.ndarray  # (w, h)
    depth: float  # larger is nearer the camera, drawn later
    colors: np.ndarray  # (2, 3) uint8: main colour, pattern colour
    stripe_period: float

    def box(self, camera: np.ndarray) -> np.ndarray:
        """Box (x1, y1, x2, y2) in image pixels for a camera offset."""
        c = self.center - camera
        return np.concatenate([c - self.size / 2, c + self.size / 2])


def _object_mask(category: int, box: np.ndarray, x0: int, y0: int, w: int, h: int):
    """Boolean mask of the shape over the pixel grid [x0, x0+w) x [y0, y0+h).

    A pixel belongs to the shape when its centre does: cars are the full box, people
    the inscribed ellipse.
    """
    xs = np.arange(x0, x0 + w) + 0.5
    ys = np.arange(y0, y0 + h) + 0.5
    inside_x = (xs >= box[0]) & (xs < box[2])
    inside_y = (ys >= box[1]) & (ys < box[3])
    if category == _CAR:
        return inside_y[:, None] & inside_x[None, :]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx, ry = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    return ((xs[None, :] - cx) / rx) ** 2 + ((ys[:, None] - cy) / ry) ** 2 < 1.0


def _object_texture(obj: SyntheticObject, box: np.ndarray, x0: int, y0: int, w: int, h: int):
    """Per-object appearance: people wear two colours (top / bottom), cars carry a
    stripe band of the second colour whose period differs between objects."""
    ys = (np.arange(y0, y0 + h) + 0.5 - box[1]) / max(box[3] - box[1], 1e-6)
    xs = (np.arange(x0, x0 + w) + 0.5 - box[0]) / max(box[2] - box[0], 1e-6)
    if obj.category == _PERSON:
        second = np.broadcast_to((ys > 0.45)[:, None], (h, w))
    else:
        band = (ys > 0.3) & (ys < 0.6)
        stripes = np.sin(xs * obj.stripe_period * np.pi) > 0
        second = band[:, None] & stripes[None, :]
    return np.where(second[..., None], obj.colors[1], obj.colors[0])


def shape_area(category: int, box: np.ndarray) -> int:
    """Pixel count of a whole shape on the pixel grid, ignoring the image borders."""
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    w, h = int(np.ceil(box[2])) - x0, int(np.ceil(box[3])) - y0
    return int(_object_mask(category, box, x0, y0, w, h).sum())


def render_frame(
    background: np.ndarray, objects: List[SyntheticObject], camera: np.ndarray, size: Tuple[int, int]
):
    """Draw objects back to front over the camera's crop of the background.

    Returns the image (H, W, 3) uint8, the owner map (H, W) int with the index into
    ``objects`` of the object drawn at each pixel (-1 for background), and the
    visibility of every object (visible pixels / full shape pixels).
    """
    width, height = size
    cx, cy = int(round(camera[0])), int(round(camera[1]))
    image = background[cy : cy + height, cx : cx + width].copy()
    owner = np.full((height, width), -1, dtype=np.int64)
    camera = np.array([cx, cy], dtype=np.float64)
    for index in sorted(range(len(objects)), key=lambda i: objects[i].depth):
        obj = objects[index]
        box = obj.box(camera)
        x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
        x1, y1 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
        if x1 <= x0 or y1 <= y0:
            continue
        mask = _object_mask(obj.category, box, x0, y0, x1 - x0, y1 - y0)
        texture = _object_texture(obj, box, x0, y0, x1 - x0, y1 - y0)
        patch = image[y0:y1, x0:x1]
        patch[mask] = texture[mask]
        owner[y0:y1, x0:x1][mask] = index
    visible = np.bincount(owner[owner >= 0], minlength=len(objects))
    areas = np.array([shape_area(o.category, o.box(camera)) for o in objects], dtype=np.float64)
    visibility = visible / np.maximum(areas, 1.0)
    return image, owner, visibility


def _textured_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Muted, low-saturation texture: smooth noise, tiles and lines (pavement-like)."""
    base = rng.uniform(70, 150, size=(max(height // 16, 2), max(width // 16, 2), 3))
    image = cv2.resize(base.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 10, size=(height, width, 1)).astype(np.float32)
    image = image + fine
    tile = int(rng.integers(24, 48))
    image[::tile, :, :] -= 25
    image[:, ::tile, :] -= 25
    gray = image.mean(axis=2, keepdims=True)
    image = 0.6 * gray + 0.4 * image  # desaturate so objects stand out by colour
    return np.clip(image, 0, 255).astype(np.uint8)


def _distinct_colors(rng: np.random.Generator, index: int) -> np.ndarray:
    """Two saturated colours; the hue walks the golden ratio so identities differ."""
    hue = (index * 0.618033988749895 + rng.uniform(0, 1)) % 1.0
    second_hue = (hue + rng.uniform(0.25, 0.75)) % 1.0
    hsv = np.array(
        [[[hue * 180, 220, rng.uniform(150, 255)], [second_hue * 180, 200, rng.uniform(80, 230)]]],
        dtype=np.float32,
    )
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0]


class SyntheticSequence:
    """Simulates one sequence; frames are produced in order by :meth:`frames`."""

    def __init__(self, config: SyntheticConfig, seed_sequence: List[int]):
        self.config = config
        self.rng = np.random.default_rng(seed_sequence)
        self.detection_noise = DetectionNoise(jitter=config.det_jitter, false_positives=config.det_false_positives)
        margin = config.camera_margin
        self.background = _textured_background(
            self.rng, config.width + 2 * margin, config.height + 2 * margin
        )
        self.camera = np.array([margin, margin], dtype=np.float64)
        self.camera_velocity = np.zeros(2)
        self.objects: List[SyntheticObject] = []
        self.next_id = 1
        for _ in range(config.initial_objects):
            self._spawn(inside=True)

    def _spawn(self, inside: bool) -> None:
        cfg, rng = self.config, self.rng
        category = _PERSON if rng.uniform() < cfg.person_probability else _CAR
        if category == _PERSON:
            h = rng.uniform(*cfg.person_heights)
            size = np.array([h * rng.uniform(0.35, 0.45), h])
        else:
            w = rng.uniform(*cfg.car_widths)
            size = np.array([w, w * rng.uniform(0.4, 0.55)])
        speed = rng.uniform(*cfg.speeds)
        direction = 1.0 if rng.uniform() < 0.5 else -1.0
        # Mostly horizontal motion (a street scene) so that paths cross often.
        velocity = np.array([direction * speed, rng.normal(0, 0.25 * speed)])
        y = rng.uniform(size[1] / 2, cfg.height - size[1] / 2)
        if inside:
            x = rng.uniform(0, cfg.width)
        else:  # enter from the side it moves away from
            x = -size[0] / 2 if direction > 0 else cfg.width + size[0] / 2
        center = np.array([x, y]) + self.camera
        self.objects.append(
            SyntheticObject(
                track_id=self.next_id,
                category=category,
                center=center,
                velocity=velocity,
                size=size,
                depth=float(rng.uniform()),
                colors=_distinct_colors(rng, self.next_id),
                stripe_period=float(rng.uniform(2, 8)),
            )
        )
        self.next_id += 1

    def _step(self) -> None:
        cfg, rng = self.config, self.rng
        if cfg.camera_motion:
            self.camera_velocity = np.clip(
                0.9 * self.camera_velocity + rng.normal(0, 0.5, size=2), -cfg.camera_speed, cfg.camera_speed
            )
            self.camera = np.clip(self.camera + self.camera_velocity, 0, 2 * cfg.camera_margin)
        for obj in self.objects:
            obj.velocity = obj.velocity + rng.normal(0, 0.05, size=2)
            obj.center = obj.center + obj.velocity
        # Objects that left the view (box fully outside) are gone for good.
        self.objects = [o for o in self.objects if self._touches_view(o.box(self.camera))]
        expected_spawns = max(cfg.target_objects - len(self.objects), 0) * 0.1
        for _ in range(rng.poisson(expected_spawns)):
            self._spawn(inside=False)

    def _touches_view(self, box: np.ndarray) -> bool:
        return box[2] > 0 and box[0] < self.config.width and box[3] > 0 and box[1] < self.config.height

    def frames(self):
        """Yield (image, owner map, gt rows, det rows) per frame, frame numbers from 1.

        gt rows: (frame, id, x, y, w, h, 1, class, visibility) in MOTChallenge
        convention (1-based pixel coordinates); det rows: (frame, -1, x, y, w, h, score).
        """
        cfg = self.config
        for frame in range(1, cfg.num_frames + 1):
            if frame > 1:
                self._step()
            image, owner, visibility = render_frame(
                self.background, self.objects, self.camera, (cfg.width, cfg.height)
            )
            if cfg.pixel_noise > 0:
                noise = self.rng.normal(0, cfg.pixel_noise, size=image.shape)
                image = np.clip(image + noise, 0, 255).astype(np.uint8)
            camera = np.round(self.camera)
            gt = []
            for obj, vis in zip(self.objects, visibility):
                box = obj.box(camera)
                if not self._touches_view(box):
                    continue
                if cfg.clip_boxes:
                    box = np.clip(box, 0, [cfg.width, cfg.height, cfg.width, cfg.height])
                x, y, w, h = box[0], box[1], box[2] - box[0], box[3] - box[1]
                if round(min(w, h), GT_DECIMALS) <= 0:  # a sliver that gt.txt would write as 0 wide
                    continue
                gt.append((frame, obj.track_id, x + 1, y + 1, w, h, 1, obj.category + 1, vis))
            det = simulate_detections(
                np.asarray(gt, dtype=np.float64).reshape(-1, 9), self.detection_noise, self.rng,
                (cfg.width, cfg.height),
            )
            det = [(frame, -1, *row[2:7]) for row in det]
            yield image, owner, gt, det


GT_DECIMALS = 4  # decimals of the boxes and visibilities in gt.txt


def _format_rows(rows, decimals: int) -> str:
    lines = []
    for row in rows:
        head = [str(int(row[0])), str(int(row[1]))]
        rest = [f"{v:.{decimals}f}" if isinstance(v, float) else str(v) for v in row[2:]]
        lines.append(",".join(head + rest))
    return "\n".join(lines) + ("\n" if lines else "")


def write_sequence(config: SyntheticConfig, seq_dir: str, seed_sequence: List[int], images: bool = True) -> None:
    """Simulate one sequence and write it in the MOTChallenge layout; ``images=False``
    leaves out ``img1/`` (for tools that read only the text files)."""
    name = os.path.basename(seq_dir)
    for sub in ("img1", "gt", "det") if images else ("gt", "det"):
        os.makedirs(os.path.join(seq_dir, sub), exist_ok=True)
    gt_rows, det_rows = [], []
    for frame, (image, _, gt, det) in enumerate(SyntheticSequence(config, seed_sequence).frames(), 1):
        path = os.path.join(seq_dir, "img1", f"{frame:06d}{config.image_ext}")
        if images and not cv2.imwrite(path, image):
            raise OSError(f"{path}: could not write the image")
        gt_rows.extend(gt)
        det_rows.extend(det)
    with open(os.path.join(seq_dir, "gt", "gt.txt"), "w") as f:
        f.write(_format_rows([(*r[:6], int(r[6]), int(r[7]), float(r[8])) for r in gt_rows], GT_DECIMALS))
    with open(os.path.join(seq_dir, "det", "det.txt"), "w") as f:
        f.write(_format_rows([(*r[:6], r[6], -1, -1, -1) for r in det_rows], 2))
    with open(os.path.join(seq_dir, "seqinfo.ini"), "w") as f:
        f.write(
            f"[Sequence]\nname={name}\nimDir=img1\nframeRate={config.frame_rate}\n"
            f"seqLength={config.num_frames}\nimWidth={config.width}\nimHeight={config.height}\n"
            f"imExt={config.image_ext}\n"
        )


SPLITS = ("train", "val")
_MANIFEST = "synthetic.json"


def generate_dataset(root: str, config: SyntheticConfig = SyntheticConfig()) -> List[str]:
    """Write the set under ``root/{train,val}/synth-XX``; returns the sequence folders.

    A root that already holds a set made with the same config is left as it is.
    """
    manifest = os.path.join(root, _MANIFEST)
    if os.path.isfile(manifest):
        with open(manifest) as f:
            if f.read() == config.to_json():
                logger.info("%s: synthetic set already generated with this config", root)
                return sorted(
                    os.path.join(root, split, d) for split in SPLITS
                    for d in os.listdir(os.path.join(root, split))
                )
        os.remove(manifest)  # a different config: rewrite below
    elif os.path.isdir(root) and os.listdir(root):
        raise FileExistsError(f"{root}: exists, is not empty and holds no {_MANIFEST}; choose another --root")
    jobs = []
    for split_index, (split, count) in enumerate(zip(SPLITS, (config.train_sequences, config.val_sequences))):
        for i in range(count):
            jobs.append((os.path.join(root, split, f"synth-{split}-{i:02d}"), [config.seed, split_index, i]))
    for split in SPLITS:  # remove sequences of an earlier, larger set
        split_dir = os.path.join(root, split)
        if os.path.isdir(split_dir):
            for d in set(os.listdir(split_dir)) - {os.path.basename(j[0]) for j in jobs}:
                shutil.rmtree(os.path.join(split_dir, d))
    for seq_dir, seed_sequence in tqdm(jobs, desc="synthetic sequences", unit="seq"):
        write_sequence(config, seq_dir, seed_sequence)
    with open(manifest, "w") as f:
        f.write(config.to_json())
    return [j[0] for j in jobs]


# Objects less visible than this are ignore regions of the training data, not detection
# targets. Evaluation counts them as MOTChallenge does for MOT17 (whose gt keeps hidden
# people, visibility 0): a tracker that carries a track through the occlusion scores
# them, one that drops it misses them.
SYNTHETIC_MIN_VISIBILITY = 0.1


def register_synthetic(root: str, prefix: str = "synth") -> List[str]:
    """Register ``<prefix>_train`` and ``<prefix>_val`` for a generated set."""
    names = []
    for split in SPLITS:
        name = f"{prefix}_{split}"
        register_mot_folder(
            name,
            os.path.join(root, split),
            class_names=SYNTHETIC_CLASSES,
            mot_class_ids=range(1, len(SYNTHETIC_CLASSES) + 1),
            min_visibility=SYNTHETIC_MIN_VISIBILITY,
            ignore_classes=(),  # class 2 is a category here, not MOTChallenge's distractor
        )
        names.append(name)
    return names


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m mot_heads.data.synthetic``: the same as ``mot demo-data``."""
    from ..cli.main import main as mot  # the command line lives in mot_heads.cli

    return mot(["demo-data", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
