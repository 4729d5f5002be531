"""LibreTranslate's wire format on the translate service (LibreTranslateService).

`forms` reads the request bodies LibreTranslate accepts (JSON, form-urlencoded, multipart),
`parsing` turns them into what to translate or detect with LibreTranslate's checks and messages,
`access` signs the caller in from the body's `api_key` or the usual headers, `markup` carries
`format=html` through plain-text translation, and `shapes` writes LibreTranslate's JSON answers.
The translating itself is TranslateText's (services.translate.rpcs.libretranslate).
"""
