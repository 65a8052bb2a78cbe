"""The auth endpoints of API.md. Thin: parse, run the service's rule as one unit of work, shape the response.
Handlers return ORM rows where the response model says what of them is sent (never `password_hash`)."""

from functools import partial
from typing import Annotated

from fastapi import Cookie, Header, Path, Response, status

from auth_service import devices, flows, metrics, service
from auth_service.dependencies import PasswordsDep, SettingsDep, SignerDep
from auth_service.exceptions import (
    EmailTaken,
    HashingBusy,
    InvalidCredentials,
    InvalidRefreshToken,
    LoginThrottled,
    UserNotFound,
)
from auth_service.models import User
from auth_service.repository import UserView
from auth_service.schemas import (
    JsonWebKeySet,
    LoginRequest,
    RefreshRequest,
    RoleUpdate,
    TokenPair,
    UserCreate,
    UserRead,
)
from service_kit.auth import AdminUser, CurrentUser
from service_kit.db.types import MAX_ID
from service_kit.db.unit_of_work import DatabaseDep
from service_kit.errors import Forbidden, error_responses
from service_kit.metrics import counting
from service_kit.routing import ServiceRouter

PREFIX = "/api/v0/auth"

DEVICE_COOKIE_NOTE = (
    "Set by a successful login (HttpOnly, signed): a client that sends it back is throttled on its own, so "
    "others' failed guesses at the account never lock it out. Clients that keep no cookies are new devices."
)

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id.")]

# Anyone may call these; the routes below need a token.
open_router = ServiceRouter(prefix=PREFIX, tags=["auth"])
router = ServiceRouter(prefix=PREFIX, tags=["users"])


@open_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=error_responses(EmailTaken, HashingBusy),
)
async def register(database: DatabaseDep, passwords: PasswordsDep, user_in: UserCreate, response: Response) -> User:
    user = await flows.register(database, passwords, user_in=user_in)
    response.headers["Location"] = f"{PREFIX}/users/{user.id}"
    return user


@open_router.post(
    "/login", response_model=TokenPair, responses=error_responses(InvalidCredentials, LoginThrottled, HashingBusy)
)
async def login(
    database: DatabaseDep,
    passwords: PasswordsDep,
    credentials: LoginRequest,
    signer: SignerDep,
    settings: SettingsDep,
    response: Response,
    device: Annotated[str | None, Cookie(alias=devices.COOKIE, description=DEVICE_COOKIE_NOTE)] = None,
    forwarded_proto: Annotated[str | None, Header(alias="X-Forwarded-Proto", include_in_schema=False)] = None,
) -> TokenPair:
    with counting(metrics.LOGINS, metrics.LOGIN_REFUSALS, ok="succeeded", other="error"):
        logged_in = await flows.login(
            database,
            passwords,
            email=credentials.email,
            password=credentials.password.get_secret_value(),
            device_cookie=device,
            signer=signer,
            refresh_ttl=settings.REFRESH_TOKEN_TTL_SECONDS,
            device_ttl=settings.DEVICE_COOKIE_TTL_SECONDS,
            policy=settings.login_policy(),
        )
    response.set_cookie(
        devices.COOKIE,
        logged_in.device_cookie,
        max_age=settings.DEVICE_COOKIE_TTL_SECONDS,
        path=devices.COOKIE_PATH,
        secure=forwarded_proto == "https",  # behind the TLS gateway; plain-HTTP local runs keep it too
        httponly=True,
        samesite="strict",
    )
    return logged_in.tokens


@open_router.post("/refresh", response_model=TokenPair, responses=error_responses(InvalidRefreshToken))
async def refresh(database: DatabaseDep, body: RefreshRequest, signer: SignerDep, settings: SettingsDep) -> TokenPair:
    refresh = partial(
        service.refresh, refresh_token=body.refresh_token, signer=signer, refresh_ttl=settings.REFRESH_TOKEN_TTL_SECONDS
    )
    with counting(metrics.REFRESHES, metrics.REFRESH_REFUSALS, ok="succeeded", other="error"):
        return await database.run(refresh)


@open_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(database: DatabaseDep, body: RefreshRequest) -> Response:
    await database.run(partial(service.logout, refresh_token=body.refresh_token))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@open_router.get("/.well-known/jwks.json", response_model=JsonWebKeySet)
async def jwks(signer: SignerDep, response: Response) -> JsonWebKeySet:
    response.headers["Cache-Control"] = "public, max-age=300"
    return JsonWebKeySet.model_validate(signer.jwks())


@router.get("/me", response_model=UserRead, responses=error_responses(UserNotFound))
async def get_me(database: DatabaseDep, caller: CurrentUser) -> UserView:
    return await database.read(partial(service.get_user, user_id=caller.id, caller=caller))


@router.get("/users/{user_id}", response_model=UserRead, responses=error_responses(Forbidden, UserNotFound))
async def get_user(database: DatabaseDep, user_id: UserId, caller: CurrentUser) -> UserView:
    return await database.read(partial(service.get_user, user_id=user_id, caller=caller))


@router.patch("/users/{user_id}", response_model=UserRead, responses=error_responses(Forbidden, UserNotFound))
async def update_user_role(database: DatabaseDep, user_id: UserId, role_in: RoleUpdate, _admin: AdminUser) -> User:
    return await database.run(partial(service.change_role, user_id=user_id, role=role_in.role))
