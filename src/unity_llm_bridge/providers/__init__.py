# Copyright 2026 UnityKernel contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Model backends behind one interface: OpenAI-compatible chat completions and Ollama."""

from unity_llm_bridge.config import ModelSettings
from unity_llm_bridge.providers.base import Completion, Provider
from unity_llm_bridge.providers.ollama import OllamaProvider
from unity_llm_bridge.providers.openai import OpenAIProvider

__all__ = ['Completion', 'OllamaProvider', 'OpenAIProvider', 'Provider', 'make_provider']


def make_provider(name: str, settings: ModelSettings) -> Provider:
    """Return the provider for a configured model (not connected yet)."""
    if settings.api == 'ollama':
        return OllamaProvider(name, settings)
    return OpenAIProvider(name, settings)
