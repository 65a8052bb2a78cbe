from service_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    ORDERS_DB_NAME: str = "ordersDB"

    def database_name(self) -> str:
        return self.ORDERS_DB_NAME


settings = Settings()
