from typing import Annotated

from fastapi import Header, Path

from service_kit.db.types import MAX_ID

ProductId = Annotated[int, Path(ge=1, le=MAX_ID, description="The product's id.")]
ReservationKey = Annotated[
    int, Path(ge=1, le=MAX_ID, description="The reservation key the order service chose for the order.")
]
IfMatch = Annotated[
    str | None,
    Header(
        description='The ETag you read, e.g. `"3"`; the write applies only if the product is still at it (else 412).'
    ),
]
IfNoneMatch = Annotated[str | None, Header(description='An ETag you hold, e.g. `"3"`; 304 if it is still current.')]
