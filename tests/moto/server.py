"""Starts moto's server with the patches that make its CloudFormation behave like the real
service where the deploy engine's tests depend on it. Pinned to moto 5.2.5: each patch
checks that the internals it relies on are still there and stops the server otherwise.

Usage: python server.py PORT
"""
import os
import sys

# AWS publishes the layer of the HyperPod installer in a bucket of its own
# (aws-sagemaker-hyperpod-cluster-setup-<region>-prod), which the emulator has not: a
# layer or function whose code is in a bucket moto does not know is created empty.
os.environ["VALIDATE_LAMBDA_S3"] = "false"

import moto
from moto.cloudformation import models as cfn
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError, ValidationError
from moto.core.responses import ActionResult

EXPECTED_MOTO = "5.2.5"


def require(condition, what):
    if not condition:
        sys.exit(f"moto {moto.__version__}: {what}; the patch layer in tests/moto/server.py was written for moto {EXPECTED_MOTO}")


require(moto.__version__ == EXPECTED_MOTO, f"expected moto {EXPECTED_MOTO}")
require(hasattr(cfn.CloudFormationBackend, "execute_change_set"), "CloudFormationBackend.execute_change_set is gone")
require(hasattr(cfn.Stack, "_create_output_map"), "Stack._create_output_map is gone")
require(hasattr(cfn.Stack, "_add_stack_event"), "Stack._add_stack_event is gone")
require(hasattr(cfn.Stack, "_parse_template"), "Stack._parse_template is gone")
require(hasattr(cfn.CloudFormationBackend, "create_change_set"), "CloudFormationBackend.create_change_set is gone")
require(hasattr(cfn.CloudFormationBackend, "delete_stack"), "CloudFormationBackend.delete_stack is gone")

original_execute = cfn.CloudFormationBackend.execute_change_set


def find_change_set(backend, change_set_name):
    if change_set_name in backend.change_sets:
        return backend.change_sets[change_set_name]
    for change_set in backend.change_sets.values():
        if change_set.change_set_name == change_set_name:
            return change_set
    return None


def execute_change_set(self, change_set_name, stack_name=None):
    """Differences 1, 2 and 4 of local-aws.md: a failing resource rolls the stack back
    instead of failing the API call, and a successful execution publishes outputs and
    exports and stores the parameters and tags, as CloudFormation does."""
    change_set = find_change_set(self, change_set_name)
    if change_set is None:
        return original_execute(self, change_set_name, stack_name)
    # A change set runs once: CloudFormation refuses to execute it again.
    if change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(
            f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status of [{change_set.status}]"
        )
    stack = self.stacks[change_set.stack_id]
    try:
        original_execute(self, change_set_name, stack_name)
    except Exception as error:  # moto raises for a resource it cannot create
        kind = change_set.change_set_type
        reason = f"Resource creation failed: {error}"
        stack._add_stack_event(f"{kind}_FAILED", resource_status_reason=reason)
        stack.status = "ROLLBACK_COMPLETE" if kind == "CREATE" else "UPDATE_ROLLBACK_COMPLETE"
        stack._add_stack_event(stack.status, resource_status_reason=reason)
        stack.status_reason = reason
        change_set.execution_status = "EXECUTE_FAILED"
        return
    if change_set.parameters is not None:
        stack.parameters = change_set.parameters
    # The change set's tags become the stack's, as CloudFormation applies them on update.
    if change_set.tags is not None:
        stack.tags = change_set.tags
    # "CloudFormation retains all change sets until you update the stack": then only the
    # one that ran, which cannot run again.
    for other in [key for key, cs in self.change_sets.items() if cs.stack_id == stack.stack_id and cs is not change_set]:
        del self.change_sets[other]
    # The executed template becomes the stack's, and its outputs are evaluated.
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    for export in stack.exports:
        self.exports[export.name] = export


cfn.CloudFormationBackend.execute_change_set = execute_change_set

original_create_change_set = cfn.CloudFormationBackend.create_change_set


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatus"


def create_change_set(self, stack_name, change_set_name, *args, **kwargs):
    """As CloudFormation does and moto does not: a second change set of one name on a stack
    is AlreadyExistsException; a CREATE change set on a stack left in REVIEW_IN_PROGRESS
    (by a change set never executed) reuses that stack instead of making a second one of
    the same name. And a stack born from a change set sees no exports in moto, so
    `Fn::ImportValue` fails: every stack is pointed at the account's live exports."""
    for change_set in self.change_sets.values():
        if change_set.change_set_name == change_set_name and change_set.stack_name == stack_name:
            raise AlreadyExistsException(f"ChangeSet [{change_set_name}] already exists")
    waiting = [s for s in self.stacks.values() if s.name == stack_name and s.status == "REVIEW_IN_PROGRESS"]
    change_set_id, stack_id = original_create_change_set(self, stack_name, change_set_name, *args, **kwargs)
    if waiting and stack_id != waiting[0].stack_id:
        # Move the new change set onto the waiting stack and drop the duplicate.
        duplicate = self.stacks.pop(stack_id)
        change_set = self.change_sets[change_set_id]
        change_set.stack = waiting[0]
        change_set.stack_id = waiting[0].stack_id
        waiting[0].tags = duplicate.tags
        stack_id = waiting[0].stack_id
    for stack in self.stacks.values():
        stack.cross_stack_resources = self.exports
        stack.resource_map.cross_stack_resources = self.exports
    return change_set_id, stack_id


cfn.CloudFormationBackend.create_change_set = create_change_set

require(hasattr(cfn_responses.CloudFormationResponse, "delete_stack"), "CloudFormationResponse.delete_stack is gone")
require(not hasattr(cfn_responses.CloudFormationResponse, "update_termination_protection"), "moto now implements UpdateTerminationProtection: drop this patch")


def update_termination_protection(self):
    """moto does not implement UpdateTerminationProtection."""
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    stack.enable_termination_protection = str(self._get_param("EnableTerminationProtection")).lower() == "true"
    return ActionResult({"StackId": stack.stack_id})


cfn_responses.CloudFormationResponse.update_termination_protection = update_termination_protection

original_delete_stack = cfn.CloudFormationBackend.delete_stack


def delete_stack(self, name_or_stack_id):
    """CloudFormation refuses to delete a stack with termination protection; moto does not."""
    for stack in self.stacks.values():
        if name_or_stack_id in (stack.name, stack.stack_id) and stack.enable_termination_protection:
            raise ValidationError(message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled")
    return original_delete_stack(self, name_or_stack_id)


cfn.CloudFormationBackend.delete_stack = delete_stack

from moto.cloudformation import parsing as cfn_parsing
from moto.core.common_models import CloudFormationModel

require(hasattr(cfn_parsing, "resource_class_from_type"), "parsing.resource_class_from_type is gone")
require(hasattr(cfn_parsing, "NULL_MODELS"), "parsing.NULL_MODELS is gone")


class Placeholder(CloudFormationModel):
    """Difference 6 of local-aws.md: moto skips the types it does not know (EKS, SageMaker,
    access points, Client VPN), so a reference to one breaks the stack. A placeholder has a
    physical id and answers Fn::GetAtt with a well-formed value; nothing is created."""

    # moto's model registry files each model under the service named in its module.
    __module__ = "moto.cloudformation.placeholder"

    def __init__(self, name, resource_type, account_id, region_name):
        self.name = name
        self.resource_type = resource_type or "AWS::Unknown::Resource"
        self.account_id = account_id
        self.region_name = region_name

    @property
    def physical_resource_id(self):
        return self.name

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::Placeholder::Resource"

    @classmethod
    def has_cfn_attr(cls, attr):
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        return cls(resource_name, kwargs.get("ResourceType"), account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        return None

    def get_cfn_attribute(self, attribute_name):
        service = self.resource_type.split("::")[1].lower()
        kind = self.resource_type.split("::")[-1].lower()
        if attribute_name.endswith("Arn"):
            return f"arn:aws:{service}:{self.region_name}:{self.account_id}:{kind}/{self.name}"
        return f"{self.name}-{attribute_name.lower()}"


from moto.ec2 import models as ec2_models

require(hasattr(ec2_models.ec2_backends, "__getitem__"), "ec2_models.ec2_backends is gone")
require(hasattr(ec2_models.vpcs.VPCBackend, "associate_vpc_cidr_block"), "VPCBackend.associate_vpc_cidr_block is gone")


class VpcCidrBlock(CloudFormationModel):
    """moto's EC2 backend can give a VPC a secondary CIDR block, but its CloudFormation
    has no AWS::EC2::VPCCidrBlock: without one, a subnet in the secondary block (where
    HyperPod's nodes go) is refused. This associates the block as CloudFormation does."""

    __module__ = "moto.cloudformation.vpccidrblock"

    def __init__(self, association_id):
        self.association_id = association_id

    @property
    def physical_resource_id(self):
        return self.association_id

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::EC2::VPCCidrBlock"

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr in ("Id",)

    def get_cfn_attribute(self, attribute_name):
        return self.association_id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        backend = ec2_models.ec2_backends[account_id][region_name]
        association = backend.associate_vpc_cidr_block(properties["VpcId"], properties["CidrBlock"], False)
        return cls(association["association_id"])

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        return None


from moto.cloudformation import custom_model

require(hasattr(custom_model, "CustomModel"), "custom_model.CustomModel is gone")
require(hasattr(custom_model.CustomModel, "set_data"), "CustomModel.set_data is gone")


def answer_custom_resource(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """moto runs the Lambda behind a custom resource in Docker, which the test machines do
    not have (every invocation fails in a background thread, and the stack goes on as if it
    had answered). The function here is the installer, whose own tests run its code with
    real tools and a real response URL (tests/python); in the emulator a custom resource
    answers SUCCESS with no data, as the installer does, without running anything."""
    resource = cls(region_name, "emulated", kwargs["LogicalId"], resource_name)
    resource.set_data({})
    return resource


custom_model.CustomModel.create_from_cloudformation_json = classmethod(answer_custom_resource)

from moto.elbv2 import models as elbv2_models

require(hasattr(elbv2_models.FakeLoadBalancer, "create_from_cloudformation_json"), "FakeLoadBalancer.create_from_cloudformation_json is gone")
require("loadbalancer_type" in elbv2_models.ELBv2Backend.create_load_balancer.__code__.co_varnames, "ELBv2Backend.create_load_balancer takes no loadbalancer_type")


def create_load_balancer(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """moto's CloudFormation drops a load balancer's Type, so every one is an application
    load balancer and a TCP listener (the Slurm login nodes') is refused; its API keeps it."""
    properties = cloudformation_json["Properties"]
    return elbv2_models.elbv2_backends[account_id][region_name].create_load_balancer(
        resource_name,
        properties.get("SecurityGroups"),
        properties.get("Subnets"),
        scheme=properties.get("Scheme", "internet-facing"),
        loadbalancer_type=properties.get("Type"),
    )


elbv2_models.FakeLoadBalancer.create_from_cloudformation_json = classmethod(create_load_balancer)

from moto.ssm import models as ssm_models

require(hasattr(ssm_models.Parameter, "create_from_cloudformation_json"), "ssm Parameter.create_from_cloudformation_json is gone")
original_create_parameter = ssm_models.Parameter.create_from_cloudformation_json.__func__


def create_parameter(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """AWS::SSM::Parameter takes its tags as a map; moto's CloudFormation reads them as a
    list of {Key, Value} and fails."""
    properties = cloudformation_json["Properties"]
    if isinstance(properties.get("Tags"), dict):
        properties = dict(properties, Tags=[{"Key": k, "Value": v} for k, v in properties["Tags"].items()])
        cloudformation_json = dict(cloudformation_json, Properties=properties)
    return original_create_parameter(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


ssm_models.Parameter.create_from_cloudformation_json = classmethod(create_parameter)

from moto.kms import models as kms_models

require(hasattr(kms_models.Key, "create_from_cloudformation_json"), "kms Key.create_from_cloudformation_json is gone")
original_create_key = kms_models.Key.create_from_cloudformation_json.__func__


def create_key(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """AWS::KMS::Key takes tags as {Key, Value}; moto's CloudFormation hands them to KMS's
    API, which names them {TagKey, TagValue}, and fails."""
    properties = cloudformation_json["Properties"]
    if properties.get("Tags"):
        tags = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in properties["Tags"]]
        cloudformation_json = dict(cloudformation_json, Properties=dict(properties, Tags=tags))
    return original_create_key(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


kms_models.Key.create_from_cloudformation_json = classmethod(create_key)

original_resource_class_from_type = cfn_parsing.resource_class_from_type


def resource_class_from_type(resource_type):
    if resource_type == VpcCidrBlock.cloudformation_type():
        return VpcCidrBlock
    found = original_resource_class_from_type(resource_type)
    if found is None and resource_type not in cfn_parsing.NULL_MODELS:
        return Placeholder
    return found


cfn_parsing.resource_class_from_type = resource_class_from_type

# StackSets, as the deploy engine drives them (service-managed, targeting organizational
# units). moto keeps a StackSet's operations and runs each instance as a hidden stack in its
# account, so that the roles a StackSet creates are real in the emulator's IAM; where it
# stops short of CloudFormation, these patches follow the API reference.

from moto.organizations import models as org_models

require(hasattr(cfn.StackSet, "create_stack_instances"), "StackSet.create_stack_instances is gone")
require(hasattr(cfn.StackInstance, "to_dict"), "StackInstance.to_dict is gone")
require(hasattr(cfn.Stack, "update"), "Stack.update is gone")
require(hasattr(cfn_responses.CloudFormationResponse, "delete_stack_instances"), "CloudFormationResponse.delete_stack_instances is gone")
require(hasattr(org_models.OrganizationsBackend, "create_organizational_unit"), "OrganizationsBackend.create_organizational_unit is gone")


class NameAlreadyExistsException(CloudFormationError):
    code = "NameAlreadyExistsException"


class OperationIdAlreadyExistsException(CloudFormationError):
    code = "OperationIdAlreadyExistsException"


def refuse_used_operation_id(response):
    """An operation id is an idempotency token: CloudFormation refuses one a StackSet has
    used (moto starts another operation, or ignores the id)."""
    operation_id = response._get_param("OperationId")
    if not operation_id:
        return None
    stack_set = response.cloudformation_backend.describe_stack_set(response._get_param("StackSetName"))
    if any(operation["OperationId"] == operation_id for operation in stack_set.operations):
        raise OperationIdAlreadyExistsException("The specified operation ID already exists.")
    return operation_id


original_create_instances_response = cfn_responses.CloudFormationResponse.create_stack_instances


def create_stack_instances_response(self):
    """CreateStackInstances keeps the operation id it is given."""
    operation_id = refuse_used_operation_id(self)
    result = original_create_instances_response(self)
    if operation_id:
        stack_set = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
        stack_set.operations[-1]["OperationId"] = operation_id
        return ActionResult({"OperationId": operation_id})
    return result


cfn_responses.CloudFormationResponse.create_stack_instances = create_stack_instances_response


original_create_stack_set = cfn.CloudFormationBackend.create_stack_set


def create_stack_set(self, name, *args, **kwargs):
    """A second StackSet of one name is NameAlreadyExistsException (moto makes another)."""
    for stack_set in self.stacksets.values():
        if stack_set.name == name and stack_set.status != "DELETED":
            raise NameAlreadyExistsException("The specified name is already in use.")
    return original_create_stack_set(self, name, *args, **kwargs)


cfn.CloudFormationBackend.create_stack_set = create_stack_set


def remember_auto_deployment(response, name):
    """DescribeStackSet tells a StackSet's AutoDeployment; moto drops it."""
    given = response._get_params().get("AutoDeployment")
    if given is None:
        return
    stack_set = response.cloudformation_backend.describe_stack_set(name)
    stack_set.auto_deployment = {
        "Enabled": str(given.get("Enabled")).lower() == "true",
        "RetainStacksOnAccountRemoval": str(given.get("RetainStacksOnAccountRemoval")).lower() == "true",
    }


original_create_stack_set_response = cfn_responses.CloudFormationResponse.create_stack_set


def create_stack_set_response(self):
    result = original_create_stack_set_response(self)
    remember_auto_deployment(self, self._get_param("StackSetName"))
    return result


cfn_responses.CloudFormationResponse.create_stack_set = create_stack_set_response

original_create_instances = cfn.StackSet.create_stack_instances


def create_stack_instances(self, accounts, regions, deployment_targets, parameters):
    """A StackSet remembers the units it targets (DescribeStackSet's OrganizationalUnitIds)
    and each instance the unit it came from (ListStackInstances' OrganizationalUnitId)."""
    before = set(id(instance) for instance in self.stack_instances)
    operation_id = original_create_instances(self, accounts, regions, deployment_targets, parameters)
    units = (deployment_targets or {}).get("OrganizationalUnitIds", [])
    if units:
        known = getattr(self, "organizational_unit_ids", [])
        self.organizational_unit_ids = known + [unit for unit in units if unit not in known]
        organization = self.instances.org_backend
        parents = {account.id: account.parent_id for account in organization.accounts}
        for instance in self.stack_instances:
            if id(instance) not in before:
                instance.organizational_unit_id = parents.get(instance.account_id)
    return operation_id


cfn.StackSet.create_stack_instances = create_stack_instances

require(hasattr(cfn.StackInstances, "create_instances"), "StackInstances.create_instances is gone")


def failed_instance(instances, account, region, parameters, permission_model, reason):
    """An instance whose stack could not be made in its account: listed OUTDATED with the
    reason, as CloudFormation lists it, until an update makes its stack."""
    instance = object.__new__(cfn.StackInstance)
    instance.account_id = account
    instance.region_name = region
    instance.stackset_id = instances.stackset_id
    instance.stack_name = instances.stack_name
    instance.name = instances.stackset_name
    instance.template = instances.template
    instance.parameters = parameters or []
    instance.permission_model = permission_model
    instance.stack = None
    instance.failed_reason = reason
    return instance


def create_instances(self, accounts, regions, parameters, deployment_targets, permission_model):
    """A stack that fails in one account fails that account, not the call: CloudFormation
    reports it in the operation's results (moto raises, and the other accounts are lost)."""
    organization = self.org_backend
    units = deployment_targets.get("OrganizationalUnitIds", [])
    children = [unit.id for unit in organization.ou if unit.parent_id in units]
    targets = [(region, account) for region in regions for account in accounts]
    targets += [(region, account.id) for region in regions for unit in units + children for account in organization.accounts if account.parent_id == unit]
    self.failures = []
    made = []
    for region, account in targets:
        if self.get_instance(account, region) is not None:
            continue
        try:
            instance = cfn.StackInstance(account_id=account, region_name=region, stackset_id=self.stackset_id, stack_name=self.stack_name, name=self.stackset_name, template=self.template, parameters=parameters, permission_model=permission_model)
        except Exception as error:
            instance = failed_instance(self, account, region, parameters, permission_model, str(error))
            self.failures.append({"Account": account, "Region": region, "Status": "FAILED", "StatusReason": str(error)})
        made.append(instance)
    self.stack_instances += made
    return [instance.to_dict() for instance in made]


cfn.StackInstances.create_instances = create_instances


def settle_operation(stack_set, failures):
    """The operation just recorded fails when an account failed, with the results."""
    operation = stack_set.operations[-1]
    if failures:
        operation["Status"] = "FAILED"
        operation["Results"] = failures


original_create_instances_with_units = cfn.StackSet.create_stack_instances


def create_stack_instances_settled(self, *args, **kwargs):
    operation_id = original_create_instances_with_units(self, *args, **kwargs)
    settle_operation(self, getattr(self.instances, "failures", []))
    return operation_id


cfn.StackSet.create_stack_instances = create_stack_instances_settled

original_instance_to_dict = cfn.StackInstance.to_dict


def instance_to_dict(self):
    described = original_instance_to_dict(self)
    unit = getattr(self, "organizational_unit_id", None)
    if unit:
        described["OrganizationalUnitId"] = unit
    if getattr(self, "failed_reason", None):
        described["Status"] = "OUTDATED"
        described["StatusReason"] = self.failed_reason
        described["StackInstanceStatus"] = {"DetailedStatus": "FAILED"}
    return described


original_instance_delete = cfn.StackInstance.delete


def instance_delete(self):
    if self.stack is not None:
        original_instance_delete(self)


cfn.StackInstance.delete = instance_delete


cfn.StackInstance.to_dict = instance_to_dict

original_stack_set_update = cfn.StackSet.update


def stack_set_update(self, template, *args, **kwargs):
    """UpdateStackSet applies the new template to every instance (moto changes only the
    StackSet's copy), and instances created later get it too."""
    operation = original_stack_set_update(self, template, *args, **kwargs)
    template = template or self.template
    self.instances.template = template
    failures = []
    for instance in self.stack_instances:
        instance.template = template
        params = {p["ParameterKey"]: p["ParameterValue"] for p in instance.parameters} if isinstance(instance.parameters, list) else dict(instance.parameters)
        try:
            # moto's update of a stack does not bring back a resource that an earlier
            # update removed: the instance's stack is made anew from the template (an
            # account that failed before is tried again the same way).
            if instance.stack is not None:
                instance.stack.delete()
                instance.stack = None
            cfn.StackInstance.__init__(instance, account_id=instance.account_id, region_name=instance.region_name, stackset_id=instance.stackset_id, stack_name=instance.stack_name, name=instance.name, template=template, parameters=params, permission_model=instance.permission_model)
            instance.failed_reason = None
        except Exception as error:
            instance.failed_reason = str(error)
            failures.append({"Account": instance.account_id, "Region": instance.region_name, "Status": "FAILED", "StatusReason": str(error)})
    settle_operation(self, failures)
    return self.operations[-1]


cfn.StackSet.update = stack_set_update

original_update_stack_set_response = cfn_responses.CloudFormationResponse.update_stack_set


def update_stack_set_response(self):
    refuse_used_operation_id(self)
    result = original_update_stack_set_response(self)
    remember_auto_deployment(self, self._get_param("StackSetName"))
    return result


cfn_responses.CloudFormationResponse.update_stack_set = update_stack_set_response

original_delete_instances_response = cfn_responses.CloudFormationResponse.delete_stack_instances


def delete_stack_instances_response(self):
    """DeleteStackInstances by organizational unit deletes the instances that unit's
    accounts have (moto reads only Accounts, and reports success having deleted nothing)."""
    refuse_used_operation_id(self)
    targets = self._get_params().get("DeploymentTargets") or {}
    units = targets.get("OrganizationalUnitIds") or []
    if not units:
        return original_delete_instances_response(self)
    stack_set = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
    accounts = sorted({i.account_id for i in stack_set.stack_instances if getattr(i, "organizational_unit_id", None) in units})
    regions = self._get_param("Regions", [])
    stack_set.instances.delete(accounts, regions)
    stack_set.organizational_unit_ids = [u for u in getattr(stack_set, "organizational_unit_ids", []) if u not in units]
    operation_id = self._get_param("OperationId") or str(cfn.mock_random.uuid4())
    stack_set._create_operation(operation_id=operation_id, action="DELETE", status="SUCCEEDED", accounts=accounts, regions=regions)
    return ActionResult({"OperationId": operation_id})


cfn_responses.CloudFormationResponse.delete_stack_instances = delete_stack_instances_response

require(hasattr(cfn_responses.CloudFormationResponse, "list_stack_set_operation_results"), "CloudFormationResponse.list_stack_set_operation_results is gone")
original_operation_results = cfn_responses.CloudFormationResponse.list_stack_set_operation_results


def list_stack_set_operation_results(self):
    """An operation's results name the accounts it failed in (moto lists only the accounts
    an operation was given, never the units' ones)."""
    stack_set = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
    operation = stack_set.get_operation(self._get_param("OperationId"))
    if "Results" in operation:
        return ActionResult({"Summaries": operation["Results"]})
    return original_operation_results(self)


cfn_responses.CloudFormationResponse.list_stack_set_operation_results = list_stack_set_operation_results


def seed_organization(description):
    """HYPERPOD_MOTO_ORGANIZATION (JSON: management, and units, each an id with its
    accounts) makes an organization whose management account holds those organizational
    units with those accounts, as the StackSet tests need fixed ids (moto draws them at
    random)."""
    import json

    wanted = json.loads(description)
    backend = org_models.organizations_backends[wanted["management"]]["aws"]
    backend.create_organization(region="us-east-1", FeatureSet="ALL")
    root_id = backend.org.root_id
    for unit_number, wanted_unit in enumerate(wanted["units"]):
        backend.create_organizational_unit(ParentId=root_id, Name=f"units-{unit_number + 1}")
        unit = backend.ou[-1]
        unit.id = wanted_unit["id"]
        for account_id in wanted_unit["accounts"]:
            backend.create_account(AccountName=f"account-{account_id}", Email=f"{account_id}@example.com")
            account = backend.accounts[-1]
            account.id = account_id
            account.parent_id = unit.id


if os.environ.get("HYPERPOD_MOTO_ORGANIZATION"):
    seed_organization(os.environ["HYPERPOD_MOTO_ORGANIZATION"])

if __name__ == "__main__":
    from moto.server import main

    port = sys.argv[1]
    main(["-H", "127.0.0.1", "-p", port])
