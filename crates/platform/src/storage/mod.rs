//! Where state lives: the data directory of a one-machine install
//! ([`data_dir`]), its SQLite databases ([`sqlite`]), the shared Redis
//! connection ([`redis`]) and windowed counters kept in either ([`counter`]).

pub mod counter;
pub mod data_dir;
pub mod redis;
pub mod sqlite;
