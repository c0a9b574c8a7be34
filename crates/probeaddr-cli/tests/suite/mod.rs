mod debian;
mod errors;
mod fixtures;
mod kernel;
mod lines;
mod live;
mod oracle;
mod resolve;
