from datetime import datetime

from sqlalchemy.orm import DeclarativeBase

from service_kit.db import UTCDateTime, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime()}
