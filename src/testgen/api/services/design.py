"""Test design helpers for the review dialog: a pairwise Examples table from typed parameters."""

from __future__ import annotations

from testgen.api.schemas.design import PairwiseOut, PairwiseRequest
from testgen.generation.pairwise import all_pairs


def pairwise(request: PairwiseRequest) -> PairwiseOut:
    table = all_pairs(request.parameters)
    return PairwiseOut(
        header=table.header,
        rows=table.rows,
        sizes=table.sizes,
        full_product=table.full_product,
        summary=table.summary(),
    )
