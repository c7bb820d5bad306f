"""Where a dataset's files or rows come from (``source:``): a file, a landing prefix, PostgreSQL, HTTP."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from atlas_core.contracts.fields import StrictModel
from atlas_core.one_of import exactly_one_of


class FileSource(StrictModel):
    kind: Literal["file"] = "file"
    path: str = Field(description="A path or glob, relative to the project directory")
    format: Literal["csv"] = "csv"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: Literal["utf-8"] = "utf-8"


class LandingSource(StrictModel):
    kind: Literal["landing"]
    prefix: str | None = Field(default=None, description="Defaults to landing/<dataset>/ in atlas-bronze")
    format: Literal["csv"] = "csv"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: Literal["utf-8"] = "utf-8"
    partition_from: Literal["column", "filename"] = Field(
        default="column",
        description="Partition rows by the partitioning column, or all rows by the file name's date",
    )
    filename_pattern: str = Field(
        default=r"(?P<date>\d{4}-\d{2}-\d{2})", description="Regex with a named group 'date' (YYYY-MM-DD)"
    )

    @field_validator("filename_pattern")
    @classmethod
    def _date_group(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        if "date" not in compiled.groupindex:
            raise ValueError(
                "filename_pattern needs a named group 'date', e.g. (?P<date>\\d{4}-\\d{2}-\\d{2})"
            )
        return value


class PostgresSource(StrictModel):
    kind: Literal["postgres"]
    url_env: str = Field(description="Name of the environment variable holding the source database URL")
    table: str | None = None
    query: str | None = None
    watermark_column: str | None = None

    _table_or_query = exactly_one_of("table", "query", message="give exactly one of table or query")


class HttpSource(StrictModel):
    kind: Literal["http"]
    url: str
    records_path: str | None = Field(default=None, description="Dotted path to the list of records")
    next_path: str | None = Field(default=None, description="Dotted path to the next page URL")
    page_param: str | None = None
    page_size_param: str | None = None
    page_size: int = Field(default=100, ge=1)
    timeout_seconds: float = Field(default=30, gt=0)
    max_pages: int = Field(default=1000, ge=1)
    max_retries: int = Field(
        default=4, ge=0, description="Retries per page on timeouts, 429 and 5xx (exponential backoff)"
    )
    headers_env: dict[str, str] = Field(default_factory=dict)


Source = Annotated[FileSource | LandingSource | PostgresSource | HttpSource, Field(discriminator="kind")]
