"""The validated model of a deployment: operator, servers and tenants (pydantic v2)."""

from fnl_deploy.model.operator import Operator, Server
from fnl_deploy.model.tenant import SCHEMA_VERSION, Tenant

__all__ = ["SCHEMA_VERSION", "Operator", "Server", "Tenant"]
