"""proxygml_lite: teaching notebooks and a small, serious helper package for ProxyGML.

ProxyGML is the deep metric learning method of Zhu, Yang, Deng and Liu,
"Fewer is More: A Deep Graph Metric Learning Perspective Using Fewer Proxies",
NeurIPS 2020.
"""

from . import evaluation, steps
from .loss import ProxyGMLLoss

__all__ = ["ProxyGMLLoss", "evaluation", "steps"]
__version__ = "0.1.0"
