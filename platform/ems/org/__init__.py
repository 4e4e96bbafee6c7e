"""Organisation: the units of a site (分厂, 车间, 生产工序, 工序单元), their roles and the
enterprise boundary (DB53/T 1026-2021 §4.2, §4.4; the construction code §4.5)."""
