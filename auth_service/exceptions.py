from service_kit.errors import Conflict, NotFound, Overloaded, TooManyRequests, Unauthorized


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists."


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "Email or password is incorrect."


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    message = "The refresh token is invalid, expired or revoked."


class RefreshTokenReused(InvalidRefreshToken):
    """A spent refresh token came back: it leaked. Its family is revoked, and that revocation must stand
    although the request is refused (`service.refresh` declares `@transaction(commit_on=...)`)."""


class UserNotFound(NotFound):
    message = "No such user."


class LoginThrottled(TooManyRequests):
    code = "login_throttled"
    message = "Too many failed logins for this account; try again later."


class HashingBusy(Overloaded):
    message = "Too many passwords are being checked right now; try again shortly."
