# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX's shapes for the street's data (awx/street.yml): survey questions and workflow nodes."""

from __future__ import annotations

DOCUMENTATION = r"""
name: awx_question
author: otap.street maintainers (!UNKNOWN)
version_added: 0.3.0
short_description: An AWX survey question from the street's short form
description:
  - Turns C({variable, question, type, required, choices}) into the survey spec item AWX's API
    takes (C(question_name), C(variable), C(type), C(required), C(choices) as lines, C(default)).
  - The same file holds C(awx_workflow_node), which turns C({identifier, job_template | approval,
    success, extra_vars}) into a node of C(awx.awx.workflow_job_template).
options:
  _input:
    description: The question.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show the survey
  ansible.builtin.debug:
    msg: "{{ questions | map('otap.street.awx_question') | list }}"
"""

RETURN = r"""
_value:
  description: The survey question as AWX takes it.
  type: dict
"""


def awx_question(question: dict) -> dict:
    """A survey spec item; see DOCUMENTATION."""
    item = {"question_name": question["question"], "question_description": "", "variable": question["variable"],
            "type": question["type"], "required": bool(question.get("required", False)), "default": question.get("default", "")}
    if question.get("choices"):
        item["choices"] = "\n".join(str(choice) for choice in question["choices"])
    return item


def awx_workflow_node(node: dict, organization: str, approval_timeout: int) -> dict:
    """A node of awx.awx.workflow_job_template's workflow_nodes."""
    if "approval" in node:
        template = {"name": node["approval"], "type": "workflow_approval", "timeout": int(approval_timeout),
                    "description": node["approval"]}
    else:
        template = {"name": node["job_template"], "type": "job_template", "organization": {"name": organization}}
    shaped = {"identifier": node["identifier"], "unified_job_template": template,
              "related": {"success_nodes": [{"identifier": node["success"]}] if node.get("success") else []}}
    if node.get("extra_vars"):
        shaped["extra_data"] = node["extra_vars"]
    return shaped


class FilterModule:
    def filters(self):
        return {"awx_question": awx_question, "awx_workflow_node": awx_workflow_node}
