from __future__ import annotations

from fastapi import APIRouter

from testgen.api.schemas.design import PairwiseOut, PairwiseRequest
from testgen.api.services import design

router = APIRouter(prefix="/test-design", tags=["review"])


@router.post("/pairwise", response_model=PairwiseOut, name="pairwise_examples")
async def pairwise_examples(body: PairwiseRequest) -> PairwiseOut:
    """The fewest Examples rows that hold every pair of the parameters' values (all-pairs), with how
    many they are against the full product of the values."""
    return design.pairwise(body)
