"""Agents that play dojo-kernel episodes: `baseline` (scripted), `llm` (any OpenAI-compatible
endpoint) and `human` (a person at a prompt), plus the registry and the episode loop."""

from .base import (
    Action,
    Agent,
    AgentError,
    StepEvent,
    StopEpisode,
    action_name,
    get_agent,
    list_agents,
    register_agent,
    run_episode,
)

__all__ = ["Action", "Agent", "AgentError", "StepEvent", "StopEpisode", "action_name", "get_agent",
           "list_agents", "register_agent", "run_episode"]
