"""ListModels: every configured provider's models, the default first, with whether their
provider is up now."""

from __future__ import annotations

from services.assistant import catalogue, validation
from services.assistant.rpcs.base import AssistantRpcs, Context, page_of
from voka import pagination
from voka.assistant.v1 import assistant_pb2


class ModelsRpcs(AssistantRpcs):
    """The models on offer."""

    async def ListModels(
        self, request: assistant_pb2.ListModelsRequest, context: Context
    ) -> assistant_pb2.ListModelsResponse:
        deps = self._deps
        size, problems = pagination.page_size(request.page_size)
        validation.require(problems)
        default = deps.registry.default_model
        healthy = {h.provider for h in await deps.registry.health() if h.healthy}
        infos = [
            m
            for m in catalogue.ordered(deps.registry.models(), default)
            if not request.provider or m.provider == request.provider
        ]
        key = pagination.fingerprint("models", request.provider)
        page, token = page_of(infos, key, size, request.page_token)
        models = [
            catalogue.model(
                m,
                deps.kinds.get(m.provider, ""),
                default,
                m.provider in healthy,
                deps.max_output_tokens,
            )
            for m in page
        ]
        return assistant_pb2.ListModelsResponse(
            models=models, next_page_token=token, default_model=default
        )
