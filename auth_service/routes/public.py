"""The auth endpoints of API.md. Thin: parse, call the service, shape the response."""

from typing import Annotated

from fastapi import Path, Response, status

from auth_service import service
from auth_service.dependencies import SettingsDep, SignerDep
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
from service_kit.db import MAX_ID, SessionDep
from service_kit.routing import ServiceRouter

PREFIX = "/api/v0/auth"

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id.")]

# Anyone may call these; the routes below need a token.
open_router = ServiceRouter(prefix=PREFIX, tags=["auth"])
router = ServiceRouter(prefix=PREFIX, tags=["users"])


@open_router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserRead)
def register(session: SessionDep, user_in: UserCreate, response: Response) -> UserRead:
    user = service.register(session, user_in=user_in)
    response.headers["Location"] = f"{PREFIX}/users/{user.id}"
    return UserRead.model_validate(user)


@open_router.post("/login", response_model=TokenPair)
def login(session: SessionDep, credentials: LoginRequest, signer: SignerDep, settings: SettingsDep) -> TokenPair:
    return service.login(
        session,
        email=credentials.email,
        password=credentials.password.get_secret_value(),
        signer=signer,
        refresh_ttl=settings.REFRESH_TOKEN_TTL_SECONDS,
    )


@open_router.post("/refresh", response_model=TokenPair)
def refresh(session: SessionDep, body: RefreshRequest, signer: SignerDep, settings: SettingsDep) -> TokenPair:
    return service.refresh(
        session, refresh_token=body.refresh_token, signer=signer, refresh_ttl=settings.REFRESH_TOKEN_TTL_SECONDS
    )


@open_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(session: SessionDep, body: RefreshRequest) -> Response:
    service.logout(session, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@open_router.get("/.well-known/jwks.json", response_model=JsonWebKeySet)
def jwks(signer: SignerDep, response: Response) -> JsonWebKeySet:
    response.headers["Cache-Control"] = "public, max-age=300"
    return JsonWebKeySet.model_validate(signer.jwks())


@router.get("/me", response_model=UserRead)
def get_me(session: SessionDep, caller: CurrentUser) -> UserRead:
    return UserRead.model_validate(service.get_user(session, user_id=caller.id, caller=caller))


@router.get("/users/{user_id}", response_model=UserRead)
def get_user(session: SessionDep, user_id: UserId, caller: CurrentUser) -> UserRead:
    return UserRead.model_validate(service.get_user(session, user_id=user_id, caller=caller))


@router.patch("/users/{user_id}", response_model=UserRead)
def update_user_role(session: SessionDep, user_id: UserId, role_in: RoleUpdate, _admin: AdminUser) -> UserRead:
    return UserRead.model_validate(service.change_role(session, user_id=user_id, role=role_in.role))
