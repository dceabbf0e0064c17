"""Workflow analysis: YAML with positions, Workflow/Job/Step views, expressions, key tracking.

Entry points: :class:`~buildonce.workflow.loader.Loader` (files → :class:`Workflow`),
:func:`~buildonce.workflow.analysis.analyse` (build-once facts),
:mod:`~buildonce.workflow.expressions` (GitHub expressions) and
:mod:`~buildonce.workflow.simulate` (job outcomes under needs/if).
"""

from __future__ import annotations
