"""Training and inference drivers."""
from .trainer import MOTTrainer, evaluator_names, record_evaluation
