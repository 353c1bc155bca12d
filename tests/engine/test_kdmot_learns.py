"""Integration: a tiny ReID teacher trains on crops of the synthetic set's gt boxes; the
tiny KDMOT student, given its checkpoint as TEACHER_WEIGHTS, learns to detect and to embed
without any identity label (Eq. 9 and 10), and the JDE cascade then tracks held-out video."""
import pytest

from mot_heads.data import register_mot_crops

from .short_training import train_short

pytestmark = pytest.mark.slow

TEACHER_ITERATIONS = 100
ITERATIONS = 300
# In percent; an untrained student finds nothing (MOTA <= 0, IDF1 0). With
# LEARNING_SEED: MOTA 78.3, IDF1 88.2, HOTA 71.1, box AP50 92.4; the distillation loss
# falls from 0.55 to 0.39 (its first and last logged values).
MIN_MOTA, MIN_IDF1 = 40.0, 55.0


def test_kdmot_student_learns_from_a_trained_teacher(tmp_path):
    register_mot_crops("kdteach_train_reid", "kdteach_train")
    train_short(tmp_path / "teacher", "reid_R18_synthetic.yaml", "kdteach", TEACHER_ITERATIONS, (80,),
                "DATASETS.TRAIN", ("kdteach_train_reid",), "DATASETS.TEST", ())
    logged = train_short(tmp_path / "student", "kdmot_R18_FPN_GN_synthetic.yaml", "kdlearn", ITERATIONS, (240, 280),
                         "MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS",
                         str(tmp_path / "teacher" / "out" / "model_final.pth"))
    trained = [m for m in logged if "tracking/MOTA" in m][-1]
    assert trained["tracking/MOTA"] >= MIN_MOTA and trained["tracking/IDF1"] >= MIN_IDF1, trained
    distillation = [m["loss_id_distillation"] for m in logged if "loss_id_distillation" in m]
    assert distillation[-1] < 0.8 * distillation[0], "the ID branch must move towards the teacher"
