"""The command line every package shares: ``paperzoo-<name> fit|validate|test|predict|reproduce|demo``.

``fit`` and friends are Lightning's own (LightningCLI over jsonargparse), with paperzoo's defaults: the
package's ``configs/tiny.yaml`` when no config is given, a rich progress bar, a CSV logger under ``runs/``
and a stop on a non-finite loss. ``reproduce``, ``demo`` and any other package command are plain
functions whose signature becomes their options (``--seeds 0 1 2``).

A mistake in a config or an argument prints one line, ``paperzoo-<name>: error: ...``, and exits with
status 2; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import logging
import re
import sys
import types
import typing
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.cli import LightningCLI

from paperzoo.core.callbacks import NonFiniteLossStop

TRAINER_COMMANDS = ("fit", "validate", "test", "predict")
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A mistake the user can fix; the CLI prints it as one line and exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def one_line(message: object) -> str:
    """Fold a (possibly multi-line) error message into one line."""
    parts = [p.strip() for p in str(message).splitlines() if p.strip()]
    text = " ".join(parts)
    return re.sub(r"\s+", " ", text)


class PaperCLI(LightningCLI):
    """LightningCLI with paperzoo's defaults and errors as exceptions instead of exits.

    Args:
        package: the package name (``vamba``), used for the log folder.
        model_class: the package's LightningModule.
        datamodule_class: the package's LightningDataModule.
        default_config: the config used when none is given (``configs/tiny.yaml``), if it exists.
        args: the command line without the program name; ``None`` reads ``sys.argv``.
        links: ``{source: target}`` options that must agree, e.g. ``{"model.patch_size": "data.patch_size"}``:
            the target is set from the source and is no longer an option of its own, so a config cannot
            give the two different values.
        **kwargs: passed to LightningCLI.
    """

    def __init__(
        self,
        package: str,
        model_class: type,
        datamodule_class: type | None = None,
        default_config: str | Path | None = None,
        args: Sequence[str] | None = None,
        links: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.package = package
        self.links = dict(links or {})
        self.nonfinite = NonFiniteLossStop()
        parser_kwargs: dict[str, Any] = {"exit_on_error": False}
        if default_config is not None and Path(default_config).is_file():
            parser_kwargs["default_config_files"] = [str(default_config)]
        trainer_defaults = {
            # Tiny configs train for tens of steps: log often enough that the CSV shows a curve.
            "log_every_n_steps": 5,
            "callbacks": [RichProgressBar(leave=True), self.nonfinite],
            "logger": {
                "class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": "runs", "name": package},
            },
        }
        trainer_defaults.update(kwargs.pop("trainer_defaults", {}))
        super().__init__(
            model_class,
            datamodule_class,
            args=list(args) if args is not None else None,
            parser_kwargs={cmd: dict(parser_kwargs) for cmd in TRAINER_COMMANDS} | {"exit_on_error": False},
            trainer_defaults=trainer_defaults,
            save_config_kwargs={"overwrite": True},
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: Any) -> None:
        for source, target in self.links.items():
            parser.link_arguments(source, target)

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        trainer_config = self._get(self.config_init, "trainer", default={}) or {}
        if trainer_config.get("enable_progress_bar") is False:
            # Lightning refuses a progress-bar callback when the bar is disabled; honour the user's choice.
            self.trainer_defaults["callbacks"] = [
                c for c in self.trainer_defaults["callbacks"] if not isinstance(c, RichProgressBar)
            ]
        return super().instantiate_trainer(**kwargs)

    def after_fit(self) -> None:
        if self.nonfinite.triggered:
            raise CliError(self.nonfinite.message, code=1)


def _doc_args(fn: Callable) -> dict[str, str]:
    """The ``Args:`` section of a Google-style docstring as {name: first sentence}."""
    doc = inspect.getdoc(fn) or ""
    match = re.search(r"^Args:\n((?:[ \t]+.*\n?|\n)*)", doc, re.M)
    if not match:
        return {}
    out: dict[str, str] = {}
    current = None
    for line in match.group(1).splitlines():
        entry = re.match(r"^\s{2,8}(\w+)(?: \(.*?\))?:\s*(.*)$", line)
        if entry:
            current = entry.group(1)
            out[current] = entry.group(2)
        elif current and line.strip():
            out[current] += " " + line.strip()
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        raise CliError(message)


def _add_parameter(parser: argparse.ArgumentParser, param: inspect.Parameter, hint: Any, help_text: str) -> None:
    flag = "--" + param.name
    default = None if param.default is inspect.Parameter.empty else param.default
    required = param.default is inspect.Parameter.empty
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        hint, origin, args = args[0], typing.get_origin(args[0]), list(typing.get_args(args[0]))
    shown = f" (default: {default})" if not required else ""
    if hint is bool:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text + shown)
    elif origin in (list, tuple, Sequence) or hint in (list, tuple):
        item = args[0] if args else str
        parser.add_argument(flag, nargs="+", type=item, default=default, required=required, help=help_text + shown)
    elif hint in (int, float, str, Path):
        parser.add_argument(flag, type=hint, default=default, required=required, help=help_text + shown)
    else:
        parser.add_argument(flag, default=default, required=required, help=help_text + shown)


def parser_from_function(fn: Callable, prog: str) -> argparse.ArgumentParser:
    """An argument parser whose options are ``fn``'s keyword parameters, typed by their annotations.

    ``list[int]`` becomes ``--name 0 1 2``, ``bool`` becomes ``--name/--no-name``; help comes from the
    docstring's ``Args:`` section.
    """
    doc = inspect.getdoc(fn) or ""
    parser = _Parser(prog=prog, description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    hints = typing.get_type_hints(fn)
    helps = _doc_args(fn)
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        _add_parameter(parser, param, hints.get(param.name, str), helps.get(param.name, ""))
    return parser


def _usage(package: str, commands: dict[str, Callable]) -> str:
    lines = [f"usage: paperzoo-{package} COMMAND [options]", "", "commands:"]
    described = {
        "fit": "train (default config: configs/tiny.yaml)",
        "validate": "evaluate on the validation set",
        "test": "evaluate on the test set",
        "predict": "run the model on the predict set",
    }
    for name, text in described.items():
        lines.append(f"  {name:<12}{text}")
    for name, fn in commands.items():
        first = (inspect.getdoc(fn) or "").split("\n")[0]
        lines.append(f"  {name:<12}{first}")
    lines += ["", f"Run 'paperzoo-{package} COMMAND --help' for a command's options."]
    return "\n".join(lines)


def run_cli(
    package: str,
    model_class: type,
    datamodule_class: type | None,
    commands: dict[str, Callable[..., Any]],
    default_config: str | Path | None = None,
    args: Sequence[str] | None = None,
    links: dict[str, str] | None = None,
) -> int:
    """Run ``paperzoo-<package>``; returns the exit status (the console script passes it to ``sys.exit``).

    Args:
        package: the package name.
        model_class: the LightningModule for fit/validate/test/predict.
        datamodule_class: the LightningDataModule, or None when the model builds its own loaders.
        commands: the package's own commands, at least ``reproduce`` and ``demo``: functions whose keyword
            parameters become options.
        default_config: the config used by fit/validate/test/predict when none is given.
        args: the command line without the program name; ``None`` reads ``sys.argv[1:]``.
        links: options of fit/validate/test/predict that take their value from another (see :class:`PaperCLI`).
    """
    argv = list(sys.argv[1:] if args is None else args)
    prog = f"paperzoo-{package}"
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(package, commands))
        return 0 if argv else EXIT_USAGE
    command = argv[0]
    # Lightning announces the seed on stderr before the config is even instantiated; an error must stay the
    # only line there. The seed is recorded in the config the run saves.
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No seed found, seed set to")
    # run_cli(args=...) is this module's documented way to call the CLI from Python (tests, notebooks).
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    try:
        if command in commands:
            fn = commands[command]
            options = vars(parser_from_function(fn, f"{prog} {command}").parse_args(argv[1:]))
            result = fn(**options)
            return result if isinstance(result, int) else 0
        if command not in TRAINER_COMMANDS:
            known = ", ".join([*TRAINER_COMMANDS, *commands])
            raise CliError(f"unknown command {command!r}; expected one of: {known}")
        try:
            PaperCLI(package, model_class, datamodule_class, default_config=default_config, args=args, links=links)
        except CliError:
            raise
        except SystemExit:
            raise
        except Exception as err:
            # jsonargparse raises for unknown keys, wrong types and missing files; the model's and the
            # datamodule's constructors raise ValueError for values they reject. Both are the user's to fix.
            if _is_config_error(err):
                raise CliError(one_line(err)) from err
            raise
    except CliError as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _is_config_error(err: Exception) -> bool:
    from jsonargparse import ArgumentError

    if isinstance(err, ArgumentError | FileNotFoundError):
        return True
    # Errors raised while instantiating the classes from the config carry no traceback worth showing.
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name in ("instantiate_classes", "parse_arguments"):
            return isinstance(err, ValueError | TypeError | KeyError)
        tb = tb.tb_next
    return False


def checked_config(
    main: Callable[[list[str]], int], config: str | Path, links: dict[str, str] | None = None, command: str = "fit"
) -> dict[str, Any]:
    """The configuration a package's ``main`` would run from ``config``, validated but not instantiated.

    This is for configs that cannot run where the tests do, such as ``configs/gpu.yaml`` on a CPU machine.
    LightningCLI parses the file and checks every key and value against the signatures of the model, the
    datamodule and the trainer. With ``--print_config`` it then prints the full result instead of building
    anything, so a key renamed in the code shows up here and not on the first GPU run.

    Args:
        main: the package's ``cli.main`` (takes the command line, returns the exit status).
        config: the YAML file.
        links: the ``links`` the package passes to :func:`run_cli`. The printed config leaves linked targets out,
            so they are filled in here from their sources, as the CLI would do.
        command: the trainer command to check it under.

    Returns:
        The resolved configuration: ``model``, ``data``, ``trainer``, ... with every default filled in; each
        section holds the keyword arguments its class will receive.

    Raises:
        CliError: the config does not parse; the message is the CLI's one error line.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([command, "--config", str(config), "--print_config"])
        except SystemExit as stop:  # jsonargparse exits 0 once the config is printed
            status = stop.code
    if status not in (0, None):
        raise CliError(err.getvalue().strip() or f"{config}: exit status {status}")
    resolved = yaml.safe_load(out.getvalue())
    for source, target in (links or {}).items():
        value: Any = resolved
        for key in source.split("."):  # a nested source: model.model.patch_size
            value = value[key]
        *parents, last = target.split(".")
        node = resolved
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return resolved
