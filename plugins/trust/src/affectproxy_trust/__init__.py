"""affectproxy-trust: the TRUST advocate ensemble for Pathos (registry name ``trust``).

Importing this package imports no LLM SDK; the LLM layer calls the providers the advocates name.
"""

from affectproxy_trust.evaluator import OUTPUT_VERSION, TrustEvaluator, TrustPanelError, quote
from affectproxy_trust.panel import DEFAULT_ADVOCATES, ROLES, Advocate, TrustConfigError, load_prompt, prompt_hash

__all__ = ["DEFAULT_ADVOCATES", "OUTPUT_VERSION", "ROLES", "Advocate", "TrustConfigError", "TrustEvaluator",
           "TrustPanelError", "load_prompt", "prompt_hash", "quote"]
