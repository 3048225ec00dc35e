"""REST API: rate cards (admins create, readers read; a tenant sees only its own override)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import AwareDatetime, BaseModel, Field, WithJsonSchema, model_validator

from lifeboat_billing.adapters.repository import RateCardRepository, card_body
from lifeboat_billing.domain.periods import EARLIEST, LATEST
from lifeboat_billing.domain.rating import MetricPrice, ProjectOverride, RateCard, Tier
from lifeboat_billing.service_layer import invoicing
from lifeboat_billing.settings import BillingSettings
from lifeboat_shared.contracts.messages.billing import Metric
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.auth import Principal

router = APIRouter(tags=["rate-cards"])


def _decimal(maximum: float) -> WithJsonSchema:
    """A Decimal given as a JSON number or a decimal string (exact), both bounded."""
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": maximum},
                {"type": "string", "maxLength": 40, "pattern": r"^\d+(\.\d+)?$"},
            ]
        }
    )


Price = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("1e12"), max_digits=30, decimal_places=15),
    _decimal(1e12),
]


class TierIn(BaseModel):
    up_to: (
        Annotated[Decimal, Field(gt=0, le=Decimal("1e18"), max_digits=30), _decimal(1e18)] | None
    ) = Field(
        default=None,
        description="Cumulative quantity within the month up to which this tier "
        "applies; null: everything above (only the last tier)",
    )
    unit_price: Price


class PriceIn(BaseModel):
    unit_price: Price = Decimal(0)
    tiers: list[TierIn] = Field(
        default_factory=list, max_length=20, description="Graduated tiers (replace unit_price)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> PriceIn:
        bounds = [t.up_to for t in self.tiers]
        if any(b is None for b in bounds[:-1]):
            raise ValueError("tiers: only the last tier may have up_to null")
        known = [b for b in bounds if b is not None]
        if known != sorted(set(known)):
            raise ValueError("tiers: up_to must increase strictly")
        return self


class OverrideIn(BaseModel):
    discount_percent: Annotated[
        Decimal, Field(ge=0, le=100, max_digits=9, decimal_places=6), _decimal(100)
    ] = Decimal(0)
    prices: dict[Metric, Price] = Field(
        default_factory=dict,
        max_length=32,
        description="Flat unit prices replacing the card's for this project",
    )


class RateCardIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    currency: str = Field(
        max_length=3, pattern=r"^[A-Z]{3}$", description="Must be the service's currency"
    )
    effective_from: AwareDatetime = Field(description="In force for usage starting from then")
    prices: dict[Metric, PriceIn] = Field(
        max_length=32, description="Unit price (or tiers) per metric"
    )
    overrides: dict[
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")],
        OverrideIn,
    ] = Field(default_factory=dict, max_length=10000, description="Per project_id")

    @model_validator(mode="after")
    def _in_range(self) -> RateCardIn:
        if not EARLIEST <= self.effective_from <= LATEST:
            raise ValueError("effective_from: must be between 1970-01-01 and 2999-12-01 (UTC)")
        return self


class RateCardOut(BaseModel):
    version: int
    name: str
    currency: str
    effective_from: datetime
    created_at: datetime | None
    prices: dict[str, Any]
    overrides: dict[str, Any]


def _out(card: RateCard, who: Principal) -> RateCardOut:
    body = card_body(card)
    overrides = body["overrides"]
    if not who.is_admin:
        overrides = {p: o for p, o in overrides.items() if p == who.project_id}
    return RateCardOut(
        version=card.version,
        name=card.name,
        currency=card.currency,
        effective_from=card.effective_from,
        created_at=card.created_at,
        prices=body["prices"],
        overrides=overrides,
    )


def _card(body: RateCardIn) -> RateCard:
    return RateCard(
        version=0,
        name=body.name,
        currency=body.currency,
        effective_from=body.effective_from,
        prices={
            m: MetricPrice(p.unit_price, tuple(Tier(t.up_to, t.unit_price) for t in p.tiers))
            for m, p in body.prices.items()
        },
        overrides={
            project: ProjectOverride(o.discount_percent, {str(m): v for m, v in o.prices.items()})
            for project, o in body.overrides.items()
        },
    )


@router.get("/rate-cards", summary="Every rate card version, oldest first")
async def list_cards(runtime: RuntimeDep, who: CurrentPrincipal) -> list[RateCardOut]:
    async with runtime.db.read() as session:
        cards = await RateCardRepository(session).list()
    return [_out(c, who) for c in cards]


@router.post(
    "/rate-cards",
    status_code=status.HTTP_201_CREATED,
    summary="Create a rate card (the next version; cards are never edited)",
    responses={422: {"description": "A field is invalid (named), e.g. currency or tiers"}},
)
async def create_card(body: RateCardIn, runtime: RuntimeDep, who: CurrentPrincipal) -> RateCardOut:
    settings = runtime.settings
    assert isinstance(settings, BillingSettings)
    if body.currency != settings.currency:
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["body", "currency"],
                    "msg": f"invoices are in {settings.currency}; a card must use it",
                    "type": "value_error",
                }
            ],
        )
    async with runtime.db.transaction() as session:
        stored = await invoicing.create_card(session, _card(body))
    return _out(stored, who)


@router.get(
    "/rate-cards/{version}",
    summary="One rate card version",
    responses={404: {"description": "No such version"}},
)
async def get_card(
    version: Annotated[int, Path(ge=1, le=2**31 - 1)], runtime: RuntimeDep, who: CurrentPrincipal
) -> RateCardOut:
    async with runtime.db.read() as session:
        card = await RateCardRepository(session).get(version)
    if card is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"version: no rate card {version}")
    return _out(card, who)
