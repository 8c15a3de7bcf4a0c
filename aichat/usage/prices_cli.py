"""`flask prices …`: the price table."""
from __future__ import annotations

import io

import click
from flask import current_app
from flask.cli import AppGroup

from aichat import audit
from aichat.commands import echo_table, refusing

from . import prices as prices_mod

# A PriceError becomes a clear message on stderr and exit code 1, never a traceback.
_refusals = refusing(prices_mod.PriceError)


def _refresh_note() -> str:
    return f"running servers use it within {current_app.config['AICHAT_PRICE_REFRESH']:g} s"


# AppGroups run each command in an app context, under `flask` and under the test runner alike.
@click.group(cls=AppGroup, help="Model prices (per million tokens) used to cost every usage row.")
def prices() -> None:
    pass


@prices.command("list")
@click.option("--model", default=None, help="Only this model (a versioned name shows the rows it is priced by).")
@click.option("--all", "everything", is_flag=True, help="Include past and future prices, not only those in force.")
def list_prices(model: str | None, everything: bool) -> None:
    """Prices in force today, per model and tier."""
    listing = prices_mod.listing(model, everything)
    if not listing:
        click.echo(f"No prices{' for ' + repr(model) if model else ''}; add one with: flask prices set MODEL "
                   f"--input X --output Y", err=True)
        return
    header = ("MODEL", "PROMPT", "INPUT", "CACHED", "OUTPUT", "CUR", "FROM") + (("STATUS",) if everything else ()) \
        + ("SOURCE",)
    rows = []
    for row, status in listing:
        record = prices_mod.as_record(row)
        tier = f">{row.above_prompt_tokens}" if row.above_prompt_tokens else "any"
        rows.append((row.model, tier, record["input_per_mtok"], record["cached_input_per_mtok"] or "=input",
                     record["output_per_mtok"], row.currency, record["valid_from"])
                    + ((status,) if everything else ()) + (row.source or "-",))
    echo_table(header, rows)


@prices.command("set")
@click.argument("model")
@click.option("--input", "input_", required=True, metavar="X", help="Input price per 1M tokens.")
@click.option("--output", required=True, metavar="Y", help="Output price per 1M tokens (reasoning included).")
@click.option("--cached-input", default=None, metavar="Z", help="Cached-input price per 1M tokens (default: as input).")
@click.option("--currency", default="USD", show_default=True, help="Three-letter currency code.")
@click.option("--valid-from", default=None, metavar="YYYY-MM-DD", help="First UTC day it applies (default: today).")
@click.option("--above-prompt-tokens", default="0", metavar="N",
              help="A tier: applies to calls whose prompt has more than N tokens.")
@click.option("--source", default="", help="Where the figure comes from.")
@_refusals
def set_price(model, input_, output, cached_input, currency, valid_from, above_prompt_tokens, source) -> None:
    """Add a price (the same model, day and tier again updates it)."""
    price = prices_mod.parse_price({
        "model": model, "input_per_mtok": input_, "output_per_mtok": output, "cached_input_per_mtok": cached_input,
        "currency": currency, "valid_from": valid_from, "above_prompt_tokens": above_prompt_tokens,
        "source": source})
    existing = prices_mod.find(price)
    before = prices_mod.as_record(existing) if existing is not None else None
    added, _ = prices_mod.save([price])
    target = f"{price['model']}@{price['valid_from']}" + (f">{price['above_prompt_tokens']}"
                                                         if price['above_prompt_tokens'] else "")
    audit.record("prices.set", "price", target, before=before, after=prices_mod.as_record(prices_mod.find(price)))
    click.echo(f"{'Added' if added else 'Updated'} the price of {price['model']!r} from {price['valid_from']}"
               f"{' for prompts over ' + str(price['above_prompt_tokens']) + ' tokens' if price['above_prompt_tokens'] else ''}"
               f"; {_refresh_note()}.", err=True)


@prices.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@_refusals
def import_prices(file) -> None:
    """Add or update prices from a CSV file with a header (the export format) or a JSON list."""
    parsed = prices_mod.read_prices(file.read(), getattr(file, "name", ""))
    added, updated = prices_mod.save(parsed)
    audit.record("prices.import", "price", getattr(file, "name", "-"),
                 after={"added": added, "updated": updated, "models": sorted({p["model"] for p in parsed})})
    click.echo(f"Imported {len(parsed)} prices: {added} added, {updated} updated; {_refresh_note()}.", err=True)


@prices.command("export")
def export_prices() -> None:
    """Every price row as CSV on stdout, in the format `flask prices import` reads."""
    out = io.StringIO()  # the price table is small
    count = prices_mod.export_csv(out)
    click.echo(out.getvalue(), nl=False)
    click.echo(f"Exported {count} prices.", err=True)
