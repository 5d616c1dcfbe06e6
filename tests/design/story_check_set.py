"""A fixed set of good and bad stories, each criterion labelled with what the check must find
((criterion, kind) pairs); the README states the check's precision and recall on it."""

from __future__ import annotations

from testgen.domain.story_check import FindingKind as K

Labelled = tuple[str, list[str], set[tuple[int | None, K]]]

STORIES: list[Labelled] = [
    # Good stories: nothing to ask.
    (
        "en",
        [
            "A password has at least 12 characters",
            "A wrong password shows the message 'Wrong email or password'",
            "After 5 failed attempts the account is locked for 15 minutes",
        ],
        set(),
    ),
    (
        "en",
        [
            "The basket shows the total in euros with 2 decimal places",
            "A coupon code is applied once per order",
            "The confirmation email is sent within 60 seconds of payment",
        ],
        set(),
    ),
    (
        "en",
        [
            "Search results are listed 20 per page",
            "An empty search shows the message 'Type at least 3 characters'",
        ],
        set(),
    ),
    (
        "es",
        [
            "La contraseña tiene al menos 12 caracteres",
            "Tras 3 intentos fallidos la cuenta se bloquea durante 10 minutos",
            "El usuario recibe un correo de confirmación",
        ],
        set(),
    ),
    (
        "es",
        [
            "El carrito muestra el total en euros",
            "Un cupón caducado muestra el mensaje 'Cupón no válido'",
        ],
        set(),
    ),
    (
        "en",
        [
            "Only invoices older than 30 days can be archived",
            "An archived invoice is hidden from the default list",
            "Archiving asks for confirmation first",
        ],
        set(),
    ),
    (
        "es",
        [
            "Solo se pueden archivar facturas de más de 30 días",
            "Una factura archivada no aparece en la lista por defecto",
        ],
        set(),
    ),
    # Bad stories.
    ("en", [], {(None, K.no_criteria)}),
    ("es", [], {(None, K.no_criteria)}),
    (
        "en",
        [
            "The page loads fast",
            "The form is user-friendly",
            "The user can export to PDF, CSV, etc.",
            "Errors are logged as appropriate",
        ],
        {(0, K.vague_word), (0, K.no_outcome), (1, K.vague_word), (2, K.vague_word), (3, K.vague_word)},
    ),
    (
        "en",
        [
            "Some products show a discount badge",
            "Checkout should work on mobile",
            "The list shows 20",
            "The user pays by card and/or PayPal",
        ],
        {
            (0, K.vague_word),
            (1, K.vague_word),
            (1, K.no_outcome),  # "should work" is no result a tester sees
            (2, K.number_without_unit),
            (3, K.and_or),
            (3, K.no_outcome),  # an action without its result
        },
    ),
    (
        "en",
        [
            "A refund is issued within 14 days",
            "A refund is issued within 14 days.",
            "Admins and managers or owners can approve a refund",
        ],
        {(1, K.duplicate), (2, K.and_or)},
    ),
    (
        "en",
        [
            "Reporting",
            "Session timeout after 30",
            "The dashboard is intuitive",
        ],
        {(0, K.no_outcome), (1, K.no_outcome), (1, K.number_without_unit), (2, K.vague_word)},
    ),
    (
        "es",
        [
            "La página carga rápido",
            "El formulario es fácil de usar",
            "Se exporta a PDF, CSV, etc.",
            "Algunos usuarios pueden ver el informe",
        ],
        {(0, K.vague_word), (0, K.no_outcome), (1, K.vague_word), (2, K.vague_word), (3, K.vague_word)},
    ),
    (
        "es",
        [
            "El pago debería funcionar en móvil",
            "La lista muestra 20",
            "El usuario paga con tarjeta y/o PayPal",
            "El pago debería funcionar en móvil",
            "Los errores se registran según corresponda",
        ],
        {
            (0, K.vague_word),
            (0, K.no_outcome),
            (1, K.number_without_unit),
            (2, K.and_or),
            (2, K.no_outcome),
            (3, K.vague_word),
            (3, K.no_outcome),
            (3, K.duplicate),
            (4, K.vague_word),
        },
    ),
]

# Written after the check, and not tuned to it.
STORIES += [
    (
        "en",
        [
            "Notifications are sent quickly",
            "Users can upload several files",
            "The upload limit is 10",
            "Uploads are scanned for viruses",
        ],
        {(0, K.vague_word), (1, K.vague_word), (2, K.number_without_unit)},
    ),
    (
        "es",
        [
            "Las notificaciones se envían rápidamente",
            "El usuario puede subir varios archivos",
            "El límite de subida es 10",
        ],
        {(0, K.vague_word), (1, K.vague_word), (2, K.number_without_unit)},
    ),
    (
        "en",
        [
            "A user can reset the password by email",
            "A user can reset the password by e-mail",
            "The reset link expires after 24 hours",
        ],
        {(1, K.duplicate)},
    ),
]
