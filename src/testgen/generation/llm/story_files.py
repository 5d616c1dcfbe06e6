"""A story's attachments as a batch carries them to the model: text for the fenced story context
(trimmed to CONTEXT_MAX_TOKENS), images as image parts for a model that takes them (else only their
names), and the tokens images cost by each provider's documented rule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CHARS_PER_TOKEN = 4

# Gemini: an image of at most 384 px on both sides counts 258 tokens; a larger one is cut into
# 768 x 768 tiles of 258 tokens each.
GEMINI_IMAGE_TOKENS = 258
GEMINI_SMALL_SIDE = 384
GEMINI_TILE = 768
# OpenAI (detail high): scaled to fit 2048 x 2048, then its shortest side to 768; 170 tokens per
# 512 px tile plus 85.
OPENAI_BASE_TOKENS = 85
OPENAI_TILE_TOKENS = 170
OPENAI_TILE = 512
OPENAI_FIT = 2048
OPENAI_SHORT_SIDE = 768


@dataclass(frozen=True)
class ImagePart:
    name: str
    media_type: str
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class TextPart:
    name: str
    text: str
    trimmed: bool = False


@dataclass(frozen=True)
class StoryFiles:
    """What a batch sends of the story's attachments."""

    texts: tuple[TextPart, ...] = ()
    images: tuple[ImagePart, ...] = ()
    named: tuple[str, ...] = ()  # images the model is told of by name only
    image_tokens: int = 0  # what `images` cost the model, by its provider's rule
    criteria_lines: tuple[str, ...] = field(default=(), compare=False)

    def __bool__(self) -> bool:
        return bool(self.texts or self.images or self.named)


def gemini_image_tokens(width: int, height: int) -> int:
    if width <= GEMINI_SMALL_SIDE and height <= GEMINI_SMALL_SIDE:
        return GEMINI_IMAGE_TOKENS
    return math.ceil(width / GEMINI_TILE) * math.ceil(height / GEMINI_TILE) * GEMINI_IMAGE_TOKENS


def openai_image_tokens(width: int, height: int) -> int:
    fit = min(1.0, OPENAI_FIT / max(width, height))
    w, h = width * fit, height * fit
    short = min(1.0, OPENAI_SHORT_SIDE / min(w, h))
    tiles = math.ceil(w * short / OPENAI_TILE) * math.ceil(h * short / OPENAI_TILE)
    return OPENAI_BASE_TOKENS + OPENAI_TILE_TOKENS * tiles


def image_tokens(provider: str, width: int, height: int) -> int:
    """The prompt tokens one image costs on `provider` (Gemini's rule for any other)."""
    if provider == "openai":
        return openai_image_tokens(width, height)
    return gemini_image_tokens(width, height)
