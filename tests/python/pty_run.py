"""Runs a command in a pseudo-terminal, as a person at a terminal would, answering one
question: when the output shows PROMPT, ANSWER and a newline are typed. Prints what the
command wrote and exits with its exit code (124 when it did not end within 120 s).

Usage: python pty_run.py PROMPT ANSWER COMMAND [ARGUMENT...]
"""
import os
import pty
import select
import sys
import time


def main():
    prompt, answer, command = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    output = b""
    answered = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not answered and prompt in output:
            os.write(fd, answer + b"\n")
            answered = True
    else:
        os.kill(pid, 9)
        sys.stdout.write(output.decode(errors="replace"))
        sys.exit(124)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(output.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
