"""Dataset readers, registration, the synthetic set, and train-time mappers."""
from .builtin import check_registered, datasets_root, register_all
from .build import MAPPER_REGISTRY, VideoInferenceSampler, build_mot_train_loader, build_video_test_loader
from .identities import IdentityIndex, IdentityMapper, tracked_instances
from .crowdhuman import load_crowdhuman, register_crowdhuman
from .jde import JDEFormatError, load_jde_list, register_jde_folder, register_jde_list
from .mot_challenge import (
    MOTFormatError,
    half_split_frames,
    load_mot_folder,
    load_mot_sequence,
    read_seqinfo,
    register_mot_folder,
)
from .pair_sampling import DetectionPairMapper, IdentityPairMapper, ImagePairMapper, VideoPairMapper
from .person_search import (
    load_cuhk_sysu,
    load_cuhk_sysu_queries,
    load_prw,
    load_prw_queries,
    load_synthetic_person_search,
    register_cuhk_sysu,
    register_prw,
    register_synthetic_person_search,
)
from .reid import (
    IdentitySampler,
    ReIDIdentityIndex,
    ReIDMapper,
    load_market1501,
    load_mot_crops,
    register_market1501,
    register_mot_crops,
    split_query_gallery,
)
from .sot import (
    load_sot_folder,
    load_sot_sequence,
    load_synthetic_sot,
    register_sot_folder,
    register_synthetic_sot,
)
from .synthetic import SYNTHETIC_CLASSES, SyntheticConfig, generate_dataset, register_synthetic

register_all(datasets_root())
