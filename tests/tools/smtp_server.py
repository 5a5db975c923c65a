"""A real SMTP server for tests (aiosmtpd): listens on 127.0.0.1:PORT,
answers the first REFUSE messages with a transient 451, then stores each
message it accepts as DIR/N.eml. Prints "ready" once it listens; stops on
SIGTERM or when stdin closes.

    python smtp_server.py PORT DIR REFUSE
"""

import asyncio
import os
import signal
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, directory, refuse):
        self.directory = directory
        self.refuse = refuse
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refused < self.refuse:
            self.refused += 1
            return "451 4.3.0 try again later"
        n = len(os.listdir(self.directory))
        path = os.path.join(self.directory, f"{n}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    port, directory, refuse = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Handler(directory, refuse), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or stop.set_result(None))
    loop.run_until_complete(stop)
    controller.stop()


if __name__ == "__main__":
    main()
