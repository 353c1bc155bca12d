"""VideoInferenceSampler: whole videos, in order, dealt to processes in turn."""
from detectron2.utils import comm

from mot_heads.data import VideoInferenceSampler

DICTS = [{"video_id": v, "frame_idx": f} for v, n in (("a", 3), ("b", 2), ("c", 2)) for f in range(1, n + 1)]


def test_one_process_sees_every_frame_in_order():
    assert list(VideoInferenceSampler(DICTS)) == list(range(7))


def test_videos_are_not_split_between_processes(monkeypatch):
    monkeypatch.setattr(comm, "get_world_size", lambda: 2)
    shards = []
    for rank in (0, 1):
        monkeypatch.setattr(comm, "get_rank", lambda: rank)
        shards.append(list(VideoInferenceSampler(DICTS)))
    assert shards == [[0, 1, 2, 5, 6], [3, 4]]  # videos a and c, then b


def test_dicts_without_video_id_are_one_frame_videos(monkeypatch):
    monkeypatch.setattr(comm, "get_world_size", lambda: 2)
    monkeypatch.setattr(comm, "get_rank", lambda: 1)
    assert list(VideoInferenceSampler([{}, {}, {}])) == [1]
