"""toysae: toy-model simulations of sparse autoencoders with known ground truth.

Reproduces and extends the toy models of Chanin & Garriga-Alonso, *Sparse but Wrong:
Incorrect L0 Leads to Incorrect Features in Sparse Autoencoders* (arXiv 2508.16560).
"""

from . import presets as presets
from . import saes as saes
from .config import CorrelationSpec as CorrelationSpec
from .config import SAEConfig as SAEConfig
from .config import SweepConfig as SweepConfig
from .config import ToyConfig as ToyConfig
from .config import TrainConfig as TrainConfig
from .correlation import low_rank_factor as low_rank_factor
from .correlation import paper_random_correlation as paper_random_correlation
from .correlation import repair_psd as repair_psd
from .detection import absorption as absorption
from .detection import detection as detection
from .detection import uniqueness as uniqueness
from .features import near_orthogonal_features as near_orthogonal_features
from .features import orthogonal_features as orthogonal_features
from .firing import FiringSpec as FiringSpec
from .firing import MagnitudeSpec as MagnitudeSpec
from .firing import Profile as Profile
from .generator import ToyModel as ToyModel
from .generator import build_toy as build_toy
from .generator import memory_estimate as memory_estimate
from .generator import true_l0_report as true_l0_report
from .hierarchy import Group as Group
from .hierarchy import HierarchySpec as HierarchySpec
from .l0 import find_l0 as find_l0
from .l0_curves import argmax_rule as argmax_rule
from .l0_curves import argmin_rule as argmin_rule
from .l0_curves import elbow_rule as elbow_rule
from .l0_rules import alignment_rule as alignment_rule
from .l0_rules import cross_seed_agreement as cross_seed_agreement
from .l0_rules import cross_seed_rule as cross_seed_rule
from .l0_rules import enc_dec_alignment as enc_dec_alignment
from .l0_rules import live_c_dec as live_c_dec
from .l0_rules import live_c_dec_rule as live_c_dec_rule
from .l0_rules import matched_cosines as matched_cosines
from .l0_rules import shared_latents as shared_latents
from .metrics import c_dec as c_dec
from .metrics import cos_matrix as cos_matrix
from .metrics import evaluate as evaluate
from .metrics import mcc as mcc
from .metrics import s_n_dec as s_n_dec
from .run import run_sweep as run_sweep
from .sae import BatchTopKSAE as BatchTopKSAE
from .sae import ground_truth_params as ground_truth_params
from .sae import init_params as init_params
from .saes import SAE as SAE
from .saes import BatchTopK as BatchTopK
from .saes import JumpReLU as JumpReLU
from .saes import MatryoshkaBatchTopK as MatryoshkaBatchTopK
from .saes import ReLUL1 as ReLUL1
from .saes import TopK as TopK
from .saes import jumprelu as jumprelu
from .store import load_run as load_run
from .sweep import SweepResult as SweepResult
from .sweep import sweep_memory_estimate as sweep_memory_estimate
from .theory import descend_alpha as descend_alpha
from .theory import expected_loss as expected_loss
from .theory import mixes as mixes
from .theory import monte_carlo_loss as monte_carlo_loss
from .theory import optimal_alpha as optimal_alpha
from .theory import orthant_probability as orthant_probability
from .theory import two_feature_toy_config as two_feature_toy_config
from .topk import batch_topk_mask as batch_topk_mask
from .topk import nth_largest as nth_largest
from .tuner import TunerConfig as TunerConfig
from .tuner import tune_l0 as tune_l0

__version__ = "0.1.0"
