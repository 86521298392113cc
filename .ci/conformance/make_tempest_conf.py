"""Write tempest.conf for an image-only deployment (adapted from the workplace's
conformance harness).

Identity is the test Keystone; the image service is found through Keystone's catalog
(type 'image'), which scripts/conformance points at glimpse. Every other service is
disabled. Image feature flags default to what glimpse offers today (interoperable
import, several stores with weights; no location APIs, no http store, no cache API) and
can be changed with environment variables or an override ini file whose sections/keys replace the
generated ones.

usage: make_tempest_conf.py OUT --admin-password-file F --auth-url URL
           --http-image URL [--override FILE] [--log-dir DIR]
"""

import argparse
import configparser
import os


def flag(name, default):
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    return "true" if v.lower() in ("1", "true", "yes", "on") else "false"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--admin-password-file", required=True)
    p.add_argument("--auth-url", required=True)
    p.add_argument("--region", default="RegionOne")
    p.add_argument("--http-image", required=True)
    p.add_argument("--override", action="append", default=[])
    p.add_argument("--log-dir", default="logs")
    args = p.parse_args()

    with open(args.admin_password_file) as f:
        admin_password = f.read().strip()

    env = os.environ.get
    conf = configparser.RawConfigParser()
    conf.optionxform = str  # keep key case
    conf.read_dict(
        {
            "DEFAULT": {
                "debug": "true",
                "log_dir": args.log_dir,
                "log_file": "tempest.log",
                "use_stderr": "false",
            },
            "auth": {
                "use_dynamic_credentials": "true",
                "admin_username": "admin",
                "admin_password": admin_password,
                "admin_project_name": "admin",
                "admin_domain_name": "Default",
                "default_credentials_domain_name": "Default",
                "create_isolated_networks": "false",
            },
            "identity": {
                "uri_v3": args.auth_url,
                "auth_version": "v3",
                "region": args.region,
                "v3_endpoint_type": "public",
                "admin_role": "admin",
                "default_domain_id": "default",
            },
            "identity-feature-enabled": {
                "api_v2": "false",
                "api_v3": "true",
            },
            "service_available": {
                "glance": "true",
                "nova": "false",
                "neutron": "false",
                "cinder": "false",
                "swift": "false",
                "horizon": "false",
                "placement": "false",
                "heat": "false",
                "designate": "false",
                "ironic": "false",
                "manila": "false",
                "octavia": "false",
                "barbican": "false",
            },
            "image": {
                "catalog_type": "image",
                "region": args.region,
                "endpoint_type": "publicURL",
                "http_image": args.http_image,
                "http_qcow2_image": args.http_image,
                "build_timeout": env("IMAGE_BUILD_TIMEOUT", "120"),
                "build_interval": "1",
                "hashing_algorithm": env("IMAGE_HASHING_ALGORITHM", "sha512"),
                "image_caching_enabled": flag("IMAGE_CACHING_ENABLED", "false"),
                "container_formats": env("IMAGE_CONTAINER_FORMATS", "ovf,bare,ova,ami,ari,aki"),
                "disk_formats": env(
                    "IMAGE_DISK_FORMATS", "qcow2,raw,ami,ari,aki,vhd,vmdk,vdi,iso,vhdx"
                ),
            },
            "image-feature-enabled": {
                "api_v2": "true",
                "import_image": flag("IMAGE_IMPORT", "true"),
                "os_glance_reserved": "true",
                "manage_locations": flag("IMAGE_MANAGE_LOCATIONS", "false"),
                "http_store_enabled": flag("IMAGE_HTTP_STORE", "false"),
                "do_secure_hash": flag("IMAGE_DO_SECURE_HASH", "true"),
                "store_weight_enabled": flag("IMAGE_STORE_WEIGHT", "true"),
                "image_conversion": flag("IMAGE_CONVERSION", "false"),
                # 'false' lets ListUserImagesTest (13 of the 20 interop tests)
                # run; it uploads arbitrary bytes, which stays valid against a
                # format-enforcing server because container_formats starts
                # with 'ovf' (Glance only inspects 'bare' containers).
                "image_format_enforcement": flag("IMAGE_FORMAT_ENFORCEMENT", "false"),
            },
            # Secure RBAC: tests use project-reader credentials for reads and
            # the glance-tempest-plugin RBAC tests run only when this is true.
            "enforce_scope": {
                "glance": flag("IMAGE_ENFORCE_SCOPE", "true"),
                "keystone": "false",
            },
            "glance_api": {
                "system_scope_supported": "false",
            },
            "volume-feature-enabled": {
                "enable_volume_image_dep_tests": "false",
            },
            "validation": {
                "run_validation": "false",
            },
            "network-feature-enabled": {
                "ipv6": "false",
            },
            "compute-feature-enabled": {
                "console_output": "false",
            },
        }
    )
    if env("IMAGE_ALTERNATE_ENDPOINT"):
        conf.set("image", "alternate_image_endpoint", env("IMAGE_ALTERNATE_ENDPOINT"))
    if env("IMAGE_MANIFEST_FILE"):
        conf.set("image", "images_manifest_file", env("IMAGE_MANIFEST_FILE"))

    for path in args.override:
        extra = configparser.RawConfigParser()
        extra.optionxform = str
        with open(path) as f:
            extra.read_file(f)
        for key, value in extra.defaults().items():
            conf.set("DEFAULT", key, value)
        for section in extra.sections():
            if not conf.has_section(section):
                conf.add_section(section)
            for key, value in extra.items(section, raw=True):
                if key in extra.defaults():
                    continue
                conf.set(section, key, value)

    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            "# Generated by make_tempest_conf.py (run.sh); edits are overwritten on every run.\n"
        )
        conf.write(f)


if __name__ == "__main__":
    main()
