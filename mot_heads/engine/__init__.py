"""Training and inference drivers."""
from .trainer import MOTTrainer
