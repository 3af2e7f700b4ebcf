"""Makes `lm_eval --model aura-hf` work on lm-eval releases that read no `lm_eval.models` entry points.

The wheel installs `aura_eval_lm_eval_registration.pth`, which imports this module at interpreter start-up.
It only adds a finder to `sys.meta_path` (no torch, no lm-eval import): when `lm_eval.models` is
first imported, the finder lets it run unchanged and then registers a lazy placeholder
``aura-hf -> aura_eval.harness.model:AuraLM`` beside lm-eval's own models (`hf` and the rest stay as
they are). Nothing heavy is imported until someone asks lm-eval for `aura-hf`.

Set AURA_EVAL_NO_LM_EVAL_HOOK=1 to switch it off; `import aura_eval.harness.model` registers the model too.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

from aura_eval.core.names import LM_EVAL_MODEL, NO_REGISTRATION_ENV

TARGET_MODULE = "lm_eval.models"
MODEL_NAME = LM_EVAL_MODEL
MODEL_TARGET = "aura_eval.harness.model:AuraLM"


def register(model_registry=None) -> None:
    """Register the lazy `aura-hf` placeholder unless some other route (an entry point) already did."""
    if model_registry is None:
        from lm_eval.api.registry import model_registry
    if MODEL_NAME not in model_registry:
        model_registry.register(MODEL_NAME, target=MODEL_TARGET)


class _RegisterAfterExec(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):  # get_resource_reader, is_package, ... stay the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        try:
            register()
        except Exception as e:  # never break lm-eval itself
            print(f"aura-eval: could not register {MODEL_NAME} with lm-eval: {e}", file=sys.stderr)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _RegisterAfterExec(spec.loader)
                return spec
        return None


def install() -> None:
    if os.environ.get(NO_REGISTRATION_ENV):
        return
    if TARGET_MODULE in sys.modules:
        register()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
