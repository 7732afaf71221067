"""
Loom's services: what ``.tac`` files and applications use.

    service       IService, Service, MultiService, Application, loadApplication
    internet      TCPServer, TCPClient, ..., TimerService, ClientService, service()
    usage         Options, UsageError (command lines, plugin options)
    plugins       plugins found through the entry-point group ``loom.plugins``
    plugins_builtin  the plugins loomd ships: echo, discard, daytime, chargen, ...
    activation    socket activation: ``systemd:`` endpoints, listenPassedDatagram

``loomd``'s own machinery (daemonizing, pidfile, logs, privileges, start-up
and shutdown) is the subpackage services.loomd, which nothing here imports;
its entry point is services.runner.
"""
