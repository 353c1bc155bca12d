"""Integration: the tiny CSTrack (one-shot model with REN and SAAN) learns to detect and
to embed identities on the synthetic set; the JDE cascade then tracks held-out video
(end-of-training EvalHook)."""
import pytest

from .short_training import train_short

pytestmark = pytest.mark.slow

ITERATIONS = 300
# In percent; an untrained model finds nothing (MOTA <= 0, IDF1 0). After 300 iterations
# with LEARNING_SEED: MOTA 70.2, IDF1 82.3, HOTA 68.7, box AP50 90.7; the schedule is short
# for some other seeds (box AP50 about 56), hence the margin.
MIN_MOTA, MIN_IDF1 = 40.0, 55.0


def test_cstrack_learns_to_track(tmp_path):
    logged = train_short(tmp_path, "cstrack_R18_FPN_GN_synthetic.yaml", "oslearn", ITERATIONS, (240, 280))
    trained = [m for m in logged if "tracking/MOTA" in m][-1]
    assert trained["tracking/MOTA"] >= MIN_MOTA and trained["tracking/IDF1"] >= MIN_IDF1, trained
    id_losses = [m["loss_id"] for m in logged if "loss_id" in m]
    assert id_losses[-1] < 0.5 * id_losses[0], "the identity classifier must learn"
