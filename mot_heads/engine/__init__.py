"""Training and inference drivers."""
from .trainer import MOTTrainer, record_evaluation
