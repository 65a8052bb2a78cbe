from service_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    PRODUCTS_DB_NAME: str = "productsDB"

    def database_name(self) -> str:
        return self.PRODUCTS_DB_NAME


settings = Settings()
