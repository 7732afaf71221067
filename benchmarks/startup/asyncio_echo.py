# python asyncio_echo.py: the same echo server with plain asyncio.
import asyncio
import os


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", int(os.environ["BENCH_PORT"]))
    await server.serve_forever()


asyncio.run(main())
