"""Per-frame tracks as CSV and JSON, the files ``mot track`` writes beside the MOT text.

CSV: a header row, then one row per track and frame::

    frame,track_id,class_id,class_name,x,y,w,h,score
    1,3,1,person,120.5,64,30.25,80,0.91

JSON: one entry per frame, frames without tracks included::

    [{"frame": 1, "tracks": [{"track_id": 3, "class_id": 1, "class_name": "person",
                              "x": 120.5, "y": 64, "w": 30.25, "h": 80, "score": 0.91}]},
     {"frame": 2, "tracks": []}]

Frames count from 1; (x, y) is the box's top-left corner in image pixels counted from 0
(the MOTChallenge text adds 1 to both); ``class_id`` is the class the MOTChallenge text
holds (-1: no class) and ``class_name`` its name ("" when unknown).
"""
import csv
import json
from typing import Iterable, List, Mapping

from trackers import Tracks

from ..errors import InputError
from ..files import atomic_write, read_text

COLUMNS = ("frame", "track_id", "class_id", "class_name", "x", "y", "w", "h", "score")
_TYPES = {"frame": int, "track_id": int, "class_id": int, "class_name": str,
          "x": float, "y": float, "w": float, "h": float, "score": float}
_DECIMALS = 3  # as the MOTChallenge text


def frame_entries(tracks_per_frame: Iterable[Tracks], class_names: Mapping[int, str]) -> List[dict]:
    """The JSON entries of frames 1, 2, ...; ``class_names`` maps a class id to its name."""
    entries = []
    for frame, tracks in enumerate(tracks_per_frame, start=1):
        rows = []
        for track_id, box, score, class_id in zip(tracks.track_ids.tolist(), tracks.boxes.tolist(),
                                                  tracks.scores.tolist(), tracks.classes.tolist()):
            x1, y1, x2, y2 = box
            rows.append({
                "track_id": int(track_id), "class_id": int(class_id), "class_name": class_names.get(class_id, ""),
                **{key: round(float(v), _DECIMALS) for key, v in zip("xywh", (x1, y1, x2 - x1, y2 - y1))},
                "score": round(float(score), _DECIMALS),
            })
        entries.append({"frame": frame, "tracks": rows})
    return entries


def table_rows(entries: Iterable[dict]) -> List[dict]:
    """The CSV rows (dicts keyed by :data:`COLUMNS`) of frame entries."""
    return [{"frame": entry["frame"], **track} for entry in entries for track in entry["tracks"]]


def write_tracks_json(path: str, entries: List[dict]) -> None:
    """Write frame entries as JSON; the file appears only once complete, parent folders are created."""
    with atomic_write(path) as f:
        json.dump(entries, f)
        f.write("\n")


def write_tracks_csv(path: str, entries: List[dict]) -> None:
    """Write frame entries as CSV rows under a header; the file appears only once complete,
    parent folders are created."""
    with atomic_write(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table_rows(entries))


def read_tracks_json(path: str) -> List[dict]:
    """The frame entries of a JSON track file."""
    try:
        entries = json.loads(read_text(path, "JSON track file"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and {"frame", "tracks"} <= set(e)
                                                for e in entries):
        raise InputError(f"{path}: expected a list of {{\"frame\": ..., \"tracks\": [...]}} entries")
    return entries


def read_tracks_csv(path: str) -> List[dict]:
    """The rows of a CSV track file, typed as :func:`frame_entries` writes them."""
    reader = csv.DictReader(read_text(path, "CSV track file").splitlines())
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise InputError(f"{path}: expected the header {','.join(COLUMNS)}, got {reader.fieldnames}")
    try:
        return [{key: _TYPES[key](row[key]) for key in COLUMNS} for row in reader]
    except (TypeError, ValueError) as e:
        raise InputError(f"{path}:{reader.line_num}: expected {','.join(COLUMNS)} values ({e})") from None
